// Hardware port: newline-delimited JSON over a unix socket. A bench feeds the EVSE's physical inputs and reads its
// physical outputs (control pilot, contactor). See README.md "Hardware port" for the message reference.
import { existsSync, unlinkSync } from "node:fs";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { Flt, HW, St, Sup } from "./evse-server.js";

export const INPUT_DEFAULTS = {
    cp_high_v: null,
    cp_low_v: null,
    pp_ohm: null,
    mains_v: 230,
    mains_hz: 50,
    residual_ma_ac: 0,
    residual_ma_dc: 0,
    contactor_feedback: null,
    meter_energy_mwh: null,
    meter_power_mw: null,
    temperature_c: 25,
};
const NUMERIC_OR_NULL = ["cp_high_v", "cp_low_v", "pp_ohm", "mains_v", "mains_hz", "residual_ma_ac", "residual_ma_dc", "meter_energy_mwh", "meter_power_mw", "temperature_c"];

const tMs = () => Math.round(performance.now());
/** Wall-clock ms with sub-ms resolution, comparable to Python's time.time() * 1000. */
const tWallMs = () => performance.timeOrigin + performance.now();
/**
 * A timer that fires within ~0.1 ms of `ms` (libuv timers have 1 ms granularity and fire late): a plain timeout
 * to 2 ms before the target, then setImmediate polling. Returns a handle for clearPrecise().
 */
function setPrecise(fn, ms) {
    const target = performance.now() + ms;
    const h = { timer: undefined, cancelled: false };
    const poll = () => {
        if (h.cancelled) return;
        if (performance.now() >= target) fn();
        else setImmediate(poll);
    };
    h.timer = setTimeout(poll, Math.max(0, ms - 2));
    return h;
}
function clearPrecise(h) {
    if (!h) return;
    h.cancelled = true;
    clearTimeout(h.timer);
}
const near = (v, target, tol = 1.1) => v >= target - tol && v <= target + tol;

/** IEC 61851-1 pilot state from the high-phase (or DC) level at the EVSE's sense point. */
export function pilotState(v) {
    if (v === null || v === undefined) return null;
    if (near(v, 12)) return "A";
    if (near(v, 9)) return "B";
    if (near(v, 6)) return "C";
    if (near(v, 3)) return "D";
    if (near(v, 0)) return "E";
    if (near(v, -12)) return "F";
    return "invalid";
}

/** Cable current capacity from the PP resistance (IEC 61851-1 / 62196); null = tethered (no limit). */
export function cableLimitFromPp(ohm) {
    if (ohm === null || ohm === undefined) return null;
    if (ohm < 50) return 0; // short: invalid cable
    if (ohm < 160) return 63000; // 100 Ω
    if (ohm < 450) return 32000; // 220 Ω
    if (ohm < 1100) return 20000; // 680 Ω
    if (ohm <= 2200) return 13000; // 1.5 kΩ
    return 0; // > 2.2 kΩ: no valid cable
}

/**
 * PWM duty cycle (%) advertising `mA` per IEC 61851-1 Annex A. `lowFormulaOnly` is the defect
 * duty-upper-segment-wrong: the 6-51 A formula (I / 0.6) above 51 A too, capped at the 96 % an 80 A offer sends.
 */
export function dutyFromCurrent(mA, { lowFormulaOnly = false } = {}) {
    const a = mA / 1000;
    if (a < 6) return null;
    if (a <= 51 || lowFormulaOnly) return Math.round(Math.min(a / 0.6, 96) * 10) / 10;
    return Math.round((Math.min(a, 80) / 2.5 + 64) * 10) / 10;
}

export class HardwarePort {
    constructor(rt, path) {
        this.rt = rt;
        this.path = path;
        this.inputs = { ...INPUT_DEFAULTS };
        this.outputs = { cp_mode: "+12V", duty_pct: null, contactor: false, t_ms: tMs(), t_wall_ms: tWallMs() };
        this.subscribers = new Set();
        this.clients = new Set();
        this.pwmOn = false;
        this.pwmTimer = undefined;
        this.contactorTimer = undefined;
        this.contactorTarget = false;
        this.contactorChangedAt = 0;
        this.diodeFault = false; // latched diode-check failure (see #benchFault)
        this.benchCause = null; // what the present bench fault comes from: "diode" for the diode check
        this.contactFault = null; // latched ContactDryFailure / ContactWetFailure
        this.contactCheckTimer = undefined;
        rt.outputListeners.add(() => this.evaluate());
    }

    async listen() {
        if (existsSync(this.path)) unlinkSync(this.path);
        this.server = net.createServer(sock => this.#onConnection(sock));
        await new Promise((resolve, reject) => {
            this.server.once("error", reject);
            this.server.listen(this.path, resolve);
        });
    }

    async close() {
        clearPrecise(this.pwmTimer);
        clearPrecise(this.contactorTimer);
        if (this.contactCheckTimer) clearTimeout(this.contactCheckTimer);
        // stop accepting first: a client reconnecting on the EOF must find the port closed, not be accepted
        // into a backlog that the close then resets
        const closed = this.server ? new Promise(r => this.server.close(() => r())) : Promise.resolve();
        for (const c of this.clients) c.destroy();
        await closed;
        try {
            unlinkSync(this.path);
        } catch {
            // already gone
        }
    }

    #onConnection(sock) {
        this.clients.add(sock);
        sock.setEncoding("utf8");
        let buf = "";
        let chain = Promise.resolve();
        const send = obj => {
            if (!sock.destroyed) sock.write(`${JSON.stringify(obj)}\n`);
        };
        sock.on("data", chunk => {
            buf += chunk;
            let i;
            while ((i = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, i).trim();
                buf = buf.slice(i + 1);
                if (!line) continue;
                const tRecv = performance.now();
                chain = chain.then(() => this.#handle(line, sock, tRecv).then(send, e => send({ ok: false, error: String(e?.message ?? e) })));
            }
        });
        sock.on("close", () => {
            this.clients.delete(sock);
            this.subscribers.delete(sock);
        });
        sock.on("error", () => {});
    }

    async #handle(line, sock, tRecv = performance.now()) {
        let msg;
        try {
            msg = JSON.parse(line);
        } catch (e) {
            return { ok: false, error: `bad JSON: ${e.message}` };
        }
        if (typeof msg !== "object" || msg === null || Array.isArray(msg)) return { ok: false, error: "message must be a JSON object" };
        const rt = this.rt;
        switch (msg.op) {
            case "attach":
                rt.bench.attached = true;
                rt.lastSource = "bench";
                await this.#react(Object.keys(this.inputs).filter(k => this.inputs[k] !== null));
                return { ok: true, outputs: this.outputs };
            case "detach":
                if (rt.bench.attached && rt.meter.benchMwh !== null) rt.meter.internalMwh = rt.meter.benchMwh;
                rt.bench.attached = false;
                rt.fw.faultSources.bench = null;
                this.contactFault = null;
                this.diodeFault = false;
                this.benchCause = null;
                this.lastPilotState = undefined; // the next attach re-asserts the pilot state
                await rt.act(evse => rt.applyFaults(evse));
                this.evaluate();
                return { ok: true };
            case "inputs": {
                const changed = [];
                for (const [k, v] of Object.entries(msg)) {
                    if (k === "op") continue;
                    if (!(k in INPUT_DEFAULTS)) return { ok: false, error: `unknown input "${k}"` };
                    if (k === "contactor_feedback") {
                        if (v !== null && typeof v !== "boolean") return { ok: false, error: "contactor_feedback must be a boolean or null" };
                    } else if (NUMERIC_OR_NULL.includes(k) && v !== null && typeof v !== "number") {
                        return { ok: false, error: `${k} must be a number or null` };
                    }
                }
                for (const [k, v] of Object.entries(msg)) {
                    if (k === "op") continue;
                    this.inputs[k] = v;
                    changed.push(k);
                }
                if (!rt.bench.attached) return { ok: true, applied: false };
                rt.lastSource = "bench";
                await this.#react(changed, tRecv);
                return { ok: true };
            }
            case "rating": {
                // Test hook, not a physical input: the EVSE as a build of another current rating (its hardware
                // charge limit) on a circuit of another capacity (CircuitCapacity, the installer's setting, stored).
                const keys = ["maxHardwareChargeCurrent", "circuitCapacity"];
                for (const [k, v] of Object.entries(msg)) {
                    if (k === "op") continue;
                    if (!keys.includes(k)) return { ok: false, error: `unknown rating "${k}"; valid: ${keys.join(", ")}` };
                    if (!Number.isInteger(v) || v < 0) return { ok: false, error: `${k} must be an integer >= 0 (mA), got ${JSON.stringify(v)}` };
                }
                const previous = { maxHardwareChargeCurrent: rt.fw.hwMaxCharge, circuitCapacity: Number(rt.evseState().circuitCapacity) };
                await rt.act(evse => {
                    if (msg.maxHardwareChargeCurrent !== undefined) rt.fw.hwMaxCharge = msg.maxHardwareChargeCurrent;
                    if (msg.circuitCapacity !== undefined) evse.setCircuitCapacity(msg.circuitCapacity);
                    else evse.recomputeLimits();
                });
                this.evaluate();
                return { ok: true, previous };
            }
            case "get":
                this.evaluate();
                return { ok: true, attached: rt.bench.attached, inputs: this.inputs, outputs: this.outputs, state: this.#stateSnapshot() };
            case "subscribe":
                this.subscribers.add(sock);
                return { ok: true, outputs: this.outputs };
            case "unsubscribe":
                this.subscribers.delete(sock);
                return { ok: true };
            case "ping":
                return { ok: true, t_ms: tMs() };
            default:
                return { ok: false, error: `unknown op ${JSON.stringify(msg.op)}` };
        }
    }

    #stateSnapshot() {
        const rt = this.rt;
        const s = rt.evseState();
        const n = v => (typeof v === "bigint" ? Number(v) : v);
        return {
            State: s.state,
            SupplyState: s.supplyState,
            FaultState: s.faultState,
            MaximumChargeCurrent: n(s.maximumChargeCurrent),
            MinimumChargeCurrent: n(s.minimumChargeCurrent),
            CircuitCapacity: n(s.circuitCapacity),
            SessionID: n(s.sessionId),
            SessionEnergyCharged: n(s.sessionEnergyCharged),
            hwState: ["NotPluggedIn", "PluggedInNoDemand", "PluggedInDemand"][rt.fw.hwState],
            cableLimit: rt.fw.cableLimit,
            faultSources: rt.fw.faultSources,
            meter_energy_mwh: Math.round(rt.meterMwh()),
            lastSource: rt.lastSource,
        };
    }

    /** Bench fault from the present inputs (highest priority first), or null; sets benchCause. */
    #benchFault() {
        const i = this.inputs;
        // Diode check (IEC 61851-1): with PWM on, the low phase must read -12 V (the EV's diode blocks the negative
        // half). A failure is latched until the EV is unplugged (pilot A): the negative half cannot be measured
        // without PWM, which the fault stops, so "the low level looks fine again" says nothing. While latched the
        // pilot is held at a steady +12 V rather than -12 V (state F): behind a healthy diode the EV's resistor is
        // invisible at -12 V, and the EVSE would never see the unplug. The check runs again when PWM restarts after
        // the EV reconnects. (OpenEVSE: DIODE_CHK_FAILED, pilot +12 V, hard fault cancelled when the EV is unplugged.)
        // Only with a valid EV on the high phase (B, C, D): a shorted pilot (E) reads 0 V on both phases and is the
        // CP short below, not a diode failure (latching it here would keep the short's fault after it is removed).
        const lowBad = i.cp_low_v !== null && !near(i.cp_low_v, -12);
        const high = pilotState(i.cp_high_v);
        if (this.outputs.cp_mode === "pwm" && lowBad && ["B", "C", "D"].includes(high)) this.diodeFault = true;
        if (high === "A") this.diodeFault = false;
        this.benchCause = null;
        if ((i.residual_ma_ac ?? 0) >= 30 || (i.residual_ma_dc ?? 0) >= 6) return Flt.GroundFault;
        if (i.temperature_c !== null && i.temperature_c > 85) return Flt.OverTemperature;
        if (i.mains_v !== null && i.mains_v < 50) return Flt.PowerLoss;
        if (i.mains_v !== null && i.mains_v > 253) return Flt.OverVoltage;
        if (i.mains_v !== null && i.mains_v < 207) return Flt.UnderVoltage;
        // 0 V on the pilot is a short only while the EVSE drives it (+12 V, PWM or -12 V); with its own driver
        // off, 0 V is what it reads anyway.
        if (this.outputs.cp_mode !== "off" && pilotState(i.cp_high_v) === "E") return Flt.PilotShortCircuit;
        if (this.diodeFault) {
            this.benchCause = "diode";
            return Flt.PilotShortCircuit;
        }
        if (this.contactFault) return this.contactFault;
        return null;
    }

    /** Apply the inputs named in `changed` to the firmware (one transaction), then re-evaluate outputs. */
    async #react(changed, tRecv = performance.now()) {
        const rt = this.rt;
        // reaction delays count from when a pilot input arrived (the physical event), not from when the firmware
        // transactions it caused finished: evaluate() subtracts the time spent since then (within 50 ms of it)
        if (changed.includes("cp_high_v") || changed.includes("cp_low_v")) this.inputAt = tRecv;
        await this.#reactInner(changed);
    }

    async #reactInner(changed) {
        const rt = this.rt;
        const i = this.inputs;
        const has = k => changed.includes(k);
        if (has("contactor_feedback")) this.#scheduleContactCheck();
        if (has("meter_energy_mwh")) rt.meter.benchMwh = i.meter_energy_mwh;
        if (has("meter_power_mw")) rt.meter.benchPowerMw = i.meter_power_mw;
        if (has("mains_v") && i.mains_v !== null && i.mains_v > 0) rt.fw.mainsMv = Math.round(i.mains_v * 1000);
        await rt.act(evse => {
            if (has("pp_ohm")) {
                const limit = cableLimitFromPp(i.pp_ohm);
                if (limit !== rt.fw.cableLimit) evse.hwSetCableLimit(limit);
            }
            // The EV's resistors are only seen while the EVSE sources +12 V (steady or as the PWM high phase):
            // at -12 V (state F, e.g. during a fault) or with the driver off, the level says nothing about the EV.
            const sourcing = this.outputs.cp_mode === "+12V" || this.outputs.cp_mode === "pwm";
            if (has("cp_high_v") && sourcing) {
                const p = pilotState(i.cp_high_v);
                // A change of the pilot state re-asserts the physical state (also over an earlier trigger). An
                // unchanged level does not: with the EV emulator resting in A, test event triggers keep working.
                if (p !== this.lastPilotState) {
                    this.lastPilotState = p;
                    if (p === "A") evse.hwSetState(HW.NotPluggedIn);
                    else if (p === "B") evse.hwSetState(HW.PluggedInNoDemand);
                    else if (p === "C" || p === "D") evse.hwSetState(HW.PluggedInDemand);
                }
                if (p !== "C" && p !== "D" && this.contactFault === Flt.ContactDryFailure) this.contactFault = null;
            }
            rt.fw.faultSources.bench = this.#benchFault();
            rt.applyFaults(evse);
        });
        this.evaluate();
        // the diode check depends on the outputs just computed
        const again = this.#benchFault();
        if (again !== rt.fw.faultSources.bench) {
            await rt.act(evse => {
                rt.fw.faultSources.bench = again;
                rt.applyFaults(evse);
            });
            this.evaluate();
        }
    }

    /** Recompute outputs from the committed EVSE state; PWM and contactor changes are delayed per config. */
    evaluate() {
        const rt = this.rt;
        if (!rt.endpoint) return;
        const hw = rt.cfg.hardware;
        const s = rt.evseState();
        const sinceInput = this.inputAt === undefined ? Infinity : performance.now() - this.inputAt;
        const lag = sinceInput < 50 ? sinceInput : 0;
        const fault = s.faultState;
        const max = Number(s.maximumChargeCurrent);
        const supplyOk = [Sup.ChargingEnabled, Sup.Enabled, Sup.DischargingEnabled].includes(s.supplyState);
        const plugged = rt.fw.hwState !== HW.NotPluggedIn;
        const lowFormulaOnly = rt.cfg.defectSet.has("duty-upper-segment-wrong");
        const wantPwm = fault === Flt.NoError && plugged && supplyOk && dutyFromCurrent(max) !== null;
        if (wantPwm && !this.pwmOn) {
            if (!this.pwmTimer) {
                this.pwmTimer = setPrecise(() => {
                    this.pwmTimer = undefined;
                    this.pwmOn = true;
                    this.evaluate();
                }, Math.max(0, hw.pwmStartDelayMs - lag));
            }
        } else if (!wantPwm) {
            clearPrecise(this.pwmTimer);
            this.pwmTimer = undefined;
            this.pwmOn = false;
        }
        // the latched diode fault alone holds the pilot at +12 V (see #benchFault); any other fault: -12 V (state F)
        const diodeOnly = rt.fw.faultSources.trigger === null && rt.fw.faultSources.bench === fault && this.benchCause === "diode";
        let cp;
        if (fault === Flt.PowerLoss) cp = "off";
        else if (fault !== Flt.NoError) cp = diodeOnly ? "+12V" : "-12V";
        else cp = this.pwmOn ? "pwm" : "+12V";
        const duty = cp === "pwm" ? dutyFromCurrent(max, { lowFormulaOnly }) : null;

        const wantContactor = cp === "pwm" && (s.state === St.PluggedInCharging || s.state === St.PluggedInDischarging);
        if (wantContactor !== this.contactorTarget) {
            this.contactorTarget = wantContactor;
            clearPrecise(this.contactorTimer);
            const delay = Math.max(0, (wantContactor ? hw.contactorDelayMs : hw.contactorOpenDelayMs) - lag);
            this.contactorTimer = setPrecise(() => {
                this.contactorTimer = undefined;
                this.#setOutputs({ contactor: this.contactorTarget });
                this.#scheduleContactCheck();
            }, delay);
        }
        this.#setOutputs({ cp_mode: cp, duty_pct: duty });
    }

    #setOutputs(patch) {
        let changed = false;
        for (const [k, v] of Object.entries(patch)) {
            if (this.outputs[k] !== v) {
                this.outputs[k] = v;
                changed = true;
            }
        }
        if (!changed) return;
        this.outputs.t_wall_ms = tWallMs();
        this.outputs.t_ms = tMs();
        const line = `${JSON.stringify({ event: "outputs", ...this.outputs })}\n`;
        for (const s of this.subscribers) if (!s.destroyed) s.write(line);
        this.rt.log({ event: "outputs", ...this.outputs });
    }

    /** Contactor feedback supervision: 500 ms after a command, feedback must agree (if the bench reports it). */
    #scheduleContactCheck() {
        if (this.contactCheckTimer) clearTimeout(this.contactCheckTimer);
        this.contactCheckTimer = setTimeout(async () => {
            this.contactCheckTimer = undefined;
            const fb = this.inputs.contactor_feedback;
            if (!this.rt.bench.attached || fb === null || fb === undefined) return;
            let f = this.contactFault;
            if (this.outputs.contactor && !fb) f = Flt.ContactDryFailure;
            else if (!this.outputs.contactor && fb) f = Flt.ContactWetFailure;
            else if (f === Flt.ContactWetFailure) f = null;
            if (f !== this.contactFault) {
                this.contactFault = f;
                await this.#react([]);
            }
        }, 500);
    }
}
