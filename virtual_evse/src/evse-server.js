// Energy EVSE cluster server (0x0099, revision 3) with the firmware state machine of the reference evse-app
// (connectedhomeip EnergyEvseDelegateImpl), validated before any attribute changes.
import { EnergyEvseServer } from "@matter/main/behaviors/energy-evse";
import { ClusterType, Status, StatusResponseError } from "@matter/main/types";
import { FEATURE_NAMES } from "./config.js";
import { computeNextCharge, mergeSchedules, normalizeSchedules, toWire, validateSchedules } from "./targets.js";

export const St = { NotPluggedIn: 0, PluggedInNoDemand: 1, PluggedInDemand: 2, PluggedInCharging: 3, PluggedInDischarging: 4, SessionEnding: 5, Fault: 6 };
export const Sup = { Disabled: 0, ChargingEnabled: 1, DischargingEnabled: 2, DisabledError: 3, DisabledDiagnostics: 4, Enabled: 5 };
export const Flt = { NoError: 0, MeterFailure: 1, OverVoltage: 2, UnderVoltage: 3, OverCurrent: 4, ContactWetFailure: 5, ContactDryFailure: 6, GroundFault: 7, PowerLoss: 8, PowerQuality: 9, PilotShortCircuit: 10, EmergencyStop: 11, EvDisconnected: 12, WrongPowerSupply: 13, LiveNeutralSwap: 14, OverTemperature: 15, Other: 255 };
export const Reason = { EvStopped: 0, EvseStopped: 1, Other: 2 };
export const HW = { NotPluggedIn: 0, PluggedInNoDemand: 1, PluggedInDemand: 2 };
const QUIET_ATTRS = ["sessionDuration", "sessionEnergyCharged", "sessionEnergyDischarged"];

function fail(status, msg) {
    throw new StatusResponseError(msg, status);
}
/** Wire value 0 of an epoch-s attribute (matter.js keeps epoch-s as Unix seconds: Matter epoch 2000-01-01). */
export const EPOCH0 = 946684800;
const nowS = () => Math.floor(Date.now() / 1000);
const isTransferring = s => s === St.PluggedInCharging || s === St.PluggedInDischarging;

/** Cluster model variant: revision 3, optional "timed" removal (defect), no list-length constraints (we answer them). */
function evseBase(cfg) {
    let Base = EnergyEvseServer.with(...cfg.features.map(f => FEATURE_NAMES[f]));
    const schema = Base.schema.clone();
    // cloned elements keep the cached base/shadow links of the frozen originals: drop them below the cluster so that
    // type references resolve to the patched datatypes of this clone
    const unlink = model => {
        for (const c of model.children ?? []) {
            c.operationalBase = undefined;
            c.operationalShadow = undefined;
            unlink(c);
        }
    };
    unlink(schema);
    for (const child of schema.children) {
        if (child.name === "ClusterRevision") child.default = 3;
        if (child.tag === "command" && child.direction === "request" && cfg.defectSet.has("timed-invoke-not-enforced")) {
            child.access = "O";
        }
    }
    // SetTargets list sizes are checked by the firmware so that > 10 targets answers RESOURCE_EXHAUSTED (as the SDK's energy-evse-server)
    const stripMax = model => {
        for (const c of model.children ?? []) {
            if (c.name === "ChargingTargets") c.constraint = "max 65535";
            stripMax(c);
        }
    };
    stripMax(schema);
    Base = Base.for(ClusterType(schema), schema);
    if (cfg.has("RFID")) Base = Base.enable({ events: { rfid: true } });
    return Base;
}

export function createEvseServer(rt) {
    const { cfg } = rt;
    const v2x = cfg.has("V2X");
    const soc = cfg.has("SOC");
    const pref = cfg.has("PREF");
    const defect = name => cfg.defectSet.has(name);
    const Base = evseBase(cfg);

    class VirtualEvseServer extends Base {
        initialize() {
            const s = this.state;
            const p = rt.store.data;
            const fw = rt.fw;
            // --- boot: non-volatile values from the firmware store, volatile values reset (matter.js keeps attribute values in its storage) ---
            if (rt.store.fresh && defect("factory-default-wrong")) rt.store.set({ randomizationDelayWindow: 0 });
            if (p.circuitCapacity === undefined) rt.store.set({ circuitCapacity: cfg.hardware.circuitCapacity });
            if (p.userMaximumChargeCurrent === undefined) rt.store.set({ userMaximumChargeCurrent: p.circuitCapacity });
            s.state = St.NotPluggedIn;
            s.faultState = Flt.NoError;
            s.circuitCapacity = p.circuitCapacity;
            s.minimumChargeCurrent = p.minimumChargeCurrent;
            s.chargingEnabledUntil = p.chargingEnabledUntil;
            if (v2x) s.dischargingEnabledUntil = p.dischargingEnabledUntil;
            if (s.userMaximumChargeCurrent !== undefined) s.userMaximumChargeCurrent = p.userMaximumChargeCurrent;
            if (s.randomizationDelayWindow !== undefined) s.randomizationDelayWindow = p.randomizationDelayWindow;
            if (s.approximateEvEfficiency !== undefined) s.approximateEvEfficiency = p.approximateEvEfficiency;
            s.sessionId = p.sessionId;
            s.sessionDuration = p.sessionDuration;
            s.sessionEnergyCharged = p.sessionEnergyCharged;
            if (v2x) s.sessionEnergyDischarged = p.sessionEnergyDischarged;
            if (soc) {
                s.stateOfCharge = null;
                s.batteryCapacity = null;
            }
            if (cfg.has("PNC")) s.vehicleId = null;
            // boot rule of the SDK's EnergyEvseDelegateImpl (ChargingEnabledUntil in the past = Disabled)
            const chOk = p.chargingEnabledUntil === null || p.chargingEnabledUntil > nowS();
            const diOk = v2x && (p.dischargingEnabledUntil === null || p.dischargingEnabledUntil > nowS());
            s.supplyState = chOk && diOk ? Sup.Enabled : chOk ? Sup.ChargingEnabled : diOk ? Sup.DischargingEnabled : Sup.Disabled;
            fw.hwState = HW.NotPluggedIn;
            this.recomputeLimits();
            this.recomputeSchedule();

            // Q-quality attributes: reported at session boundaries (forced) and otherwise at most every 30 s
            for (const name of QUIET_ATTRS) {
                const q = this.events[`${name}$Changed`]?.quiet;
                if (!q) continue;
                const orig = q.shouldEmit;
                q.shouldEmit = (...a) => (rt.forceQuiet ? "now" : orig ? orig(...a) : true);
                q.minimumEmitInterval = 30_000;
                if (process.env.VEVSE_DEBUG_QUIET) {
                    q.on((...a) => console.error("QUIET EMIT", name, a));
                    this.events[`${name}$Changed`].on((...a) => console.error("CHANGED", name, a));
                }
            }
            // Writable attributes: validated and applied in the writing transaction ($Changing runs before commit)
            if (s.userMaximumChargeCurrent !== undefined) this.reactTo(this.events.userMaximumChargeCurrent$Changing, this.onUserMaxChanging);
            if (s.randomizationDelayWindow !== undefined) this.reactTo(this.events.randomizationDelayWindow$Changing, this.onRandomizationChanging);
            if (s.approximateEvEfficiency !== undefined) this.reactTo(this.events.approximateEvEfficiency$Changing, this.onEfficiencyChanging);
            this.afterCommit(() => rt.scheduleExpiry());
        }

        onUserMaxChanging(v) {
            if (Number(v) < 0 && !defect("user-max-current-negative-accepted")) fail(Status.ConstraintError, "UserMaximumChargeCurrent < 0");
            rt.store.set({ userMaximumChargeCurrent: Number(v) });
            // a remote write runs with the writer's privileges (MaximumChargeCurrent is read-only for it):
            // recompute in a firmware transaction right after the write commits
            this.afterCommit(() =>
                rt.act(evse => {
                    evse.recomputeLimits();
                    evse.recomputeSchedule();
                }),
            );
        }

        onRandomizationChanging(v) {
            if (v < 0 || v > 86400) fail(Status.ConstraintError, "RandomizationDelayWindow out of range");
            rt.store.set({ randomizationDelayWindow: v });
        }

        onEfficiencyChanging(v) {
            if (v !== null && (v < 0 || v > 65534)) fail(Status.ConstraintError, "ApproximateEVEfficiency out of range");
            if (!defect("nonvolatile-not-persisted")) rt.store.set({ approximateEvEfficiency: v });
        }

        // ------------------------------------------------------------------ helpers
        /** Run fn once this transaction is finalized (committed, locks released); outside of it. */
        afterCommit(fn) {
            const tx = this.context?.transaction;
            if (tx && typeof tx.onFinalize === "function") {
                tx.onFinalize(async () => {
                    try {
                        await fn();
                    } catch (e) {
                        console.error("afterCommit", e);
                    }
                });
            } else {
                rt.afterCommit(fn);
            }
        }

        emitEvent(name, payload) {
            this.events[name].emit(payload, this.context);
            rt.log({ event: "matter_event", name, fields: payload });
        }

        setState(value) {
            if (rt.fw.savedBeforeFault) {
                rt.fw.savedBeforeFault.state = value;
                return;
            }
            this.state.state = value;
        }

        /** Session boundary: Q-quality session attributes are reported (even if unchanged) once this commits. */
        markBoundary() {
            if (rt.boundaryPending) return;
            rt.boundaryPending = true;
            this.afterCommit(() => {
                rt.boundaryPending = false;
                rt.forceSessionReports();
            });
        }

        recomputeLimits() {
            const s = this.state;
            const fw = rt.fw;
            const p = rt.store.data;
            const parts = [fw.hwMaxCharge, p.commandMaxCharge];
            if (!defect("max-current-ignores-circuit-capacity")) parts.push(s.circuitCapacity);
            if (fw.cableLimit !== null) parts.push(fw.cableLimit);
            if (s.userMaximumChargeCurrent !== undefined) parts.push(Number(s.userMaximumChargeCurrent));
            const max = Math.max(0, Math.min(...parts.map(Number)));
            if (s.maximumChargeCurrent !== max) s.maximumChargeCurrent = max;
            if (v2x) {
                const dparts = [fw.hwMaxDischarge, p.commandMaxDischarge, s.circuitCapacity];
                if (fw.cableLimit !== null) dparts.push(fw.cableLimit);
                const dmax = Math.max(0, Math.min(...dparts.map(Number)));
                if (s.maximumDischargeCurrent !== dmax) s.maximumDischargeCurrent = dmax;
            }
            this.afterCommit(() => rt.outputsMayChange());
        }

        recomputeSchedule() {
            if (!pref) return;
            const s = this.state;
            const plugged = rt.fw.hwState !== HW.NotPluggedIn;
            const next = computeNextCharge({
                schedules: rt.store.data.targets,
                pluggedIn: plugged,
                supplyState: s.supplyState,
                maxChargeCurrent: Number(s.maximumChargeCurrent),
                mainsMv: rt.fw.mainsMv,
                soc: soc ? s.stateOfCharge : null,
                batteryCapacity: soc ? (s.batteryCapacity === null ? null : Number(s.batteryCapacity)) : null,
                socFeature: soc,
            });
            for (const [k, v] of Object.entries(next)) if (s[k] !== v) s[k] = v;
            rt.armTargetTimer(next.nextChargeTargetTime);
        }

        /** Session statistics from the meter (only while a session is open). */
        updateSession() {
            const fw = rt.fw;
            if (fw.sessionStartMs === null) return;
            const s = this.state;
            s.sessionDuration = Math.max(0, Math.floor((Date.now() - fw.sessionStartMs) / 1000));
            s.sessionEnergyCharged = Math.max(0, Math.round(rt.meterMwh() - fw.meterAtSessionStart));
            if (v2x) s.sessionEnergyDischarged = Math.max(0, Math.round(rt.dischargeMeterMwh() - fw.dischargeAtSessionStart));
            rt.store.set({
                sessionDuration: s.sessionDuration,
                sessionEnergyCharged: Number(s.sessionEnergyCharged),
                sessionEnergyDischarged: v2x ? Number(s.sessionEnergyDischarged) : rt.store.data.sessionEnergyDischarged,
            });
        }

        energyTransferStarted() {
            const s = this.state;
            rt.fw.meterAtTransferStart = rt.meterMwh();
            rt.fw.dischargeAtTransferStart = rt.dischargeMeterMwh();
            this.updateSession();
            this.markBoundary();
            if (defect("no-energy-transfer-started-event")) return;
            const payload = { sessionId: s.sessionId ?? 0, state: s.state, maximumCurrent: s.maximumChargeCurrent };
            if (v2x) payload.maximumDischargeCurrent = s.maximumDischargeCurrent;
            this.emitEvent("energyTransferStarted", payload);
        }

        energyTransferStopped(reason) {
            const s = this.state;
            this.updateSession();
            this.markBoundary();
            // defect energy-transferred-wrong: counted from the session's start, not this transfer's
            const from = defect("energy-transferred-wrong") ? rt.fw.meterAtSessionStart : rt.fw.meterAtTransferStart;
            const payload = {
                sessionId: s.sessionId ?? 0,
                state: s.state,
                reason,
                energyTransferred: Math.max(0, Math.round(rt.meterMwh() - (from ?? rt.meterMwh()))),
            };
            if (v2x) payload.energyDischarged = Math.max(0, Math.round(rt.dischargeMeterMwh() - (rt.fw.dischargeAtTransferStart ?? rt.dischargeMeterMwh())));
            this.emitEvent("energyTransferStopped", payload);
        }

        // ------------------------------------------------------------------ hardware API (SDK EnergyEvseDelegateImpl HwSet*)
        hwSetState(newHw) {
            const fw = rt.fw;
            const old = fw.hwState;
            if (old === newHw) return;
            fw.hwState = newHw;
            if (old === HW.NotPluggedIn) {
                this.evPluggedIn();
                if (newHw === HW.PluggedInDemand) this.evDemand();
            } else if (newHw === HW.NotPluggedIn) {
                this.evNotDetected();
            } else if (newHw === HW.PluggedInDemand) {
                this.evDemand();
            } else {
                this.evNoDemand();
            }
            this.recomputeSchedule();
            this.afterCommit(() => rt.outputsMayChange());
        }

        effectiveState() {
            return rt.fw.savedBeforeFault ? rt.fw.savedBeforeFault.state : this.state.state;
        }

        effectiveSupply() {
            return rt.fw.savedBeforeFault ? rt.fw.savedBeforeFault.supply : this.state.supplyState;
        }

        evPluggedIn() {
            const s = this.state;
            const fw = rt.fw;
            if (this.effectiveState() !== St.NotPluggedIn && !defect("state-change-not-reported")) return;
            let id = s.sessionId;
            if (id === null || id === undefined) id = 0;
            else if (!defect("session-id-not-incremented")) id = (Number(id) + 1) >>> 0;
            s.sessionId = id;
            fw.sessionStartMs = Date.now();
            fw.meterAtSessionStart = rt.meterMwh();
            fw.dischargeAtSessionStart = rt.dischargeMeterMwh();
            s.sessionDuration = 0;
            s.sessionEnergyCharged = 0;
            if (v2x) s.sessionEnergyDischarged = 0;
            rt.store.set({ sessionId: id, sessionDuration: 0, sessionEnergyCharged: 0, sessionEnergyDischarged: v2x ? 0 : rt.store.data.sessionEnergyDischarged });
            this.markBoundary();
            this.emitEvent("evConnected", { sessionId: id });
            if (!defect("state-change-not-reported")) this.setState(St.PluggedInNoDemand);
        }

        evDemand() {
            const supply = this.effectiveSupply();
            if (rt.fw.savedBeforeFault) {
                rt.fw.savedBeforeFault.state = St.PluggedInDemand;
                return;
            }
            if (supply === Sup.ChargingEnabled || supply === Sup.Enabled) {
                this.recomputeLimits();
                this.state.state = St.PluggedInCharging;
                this.energyTransferStarted();
            } else if (supply === Sup.DischargingEnabled) {
                this.state.state = St.PluggedInDischarging;
                this.energyTransferStarted();
            } else {
                this.state.state = St.PluggedInDemand;
            }
        }

        evNoDemand() {
            if (!rt.fw.savedBeforeFault && isTransferring(this.state.state)) this.energyTransferStopped(Reason.EvStopped);
            this.setState(St.PluggedInNoDemand);
        }

        evNotDetected() {
            const s = this.state;
            const fw = rt.fw;
            if (!fw.savedBeforeFault && isTransferring(s.state)) this.energyTransferStopped(Reason.Other);
            this.updateSession();
            this.markBoundary();
            const payload = {
                sessionId: s.sessionId ?? 0,
                state: s.state,
                sessionDuration: s.sessionDuration ?? 0,
                sessionEnergyCharged: s.sessionEnergyCharged ?? 0,
            };
            if (v2x) payload.sessionEnergyDischarged = s.sessionEnergyDischarged ?? 0;
            fw.sessionStartMs = null;
            this.emitEvent("evNotDetected", payload);
            if (!defect("state-change-not-reported")) this.setState(St.NotPluggedIn);
        }

        /** Raise or clear a fault (f = NoError clears). Returns false when nothing changed. */
        hwSetFault(f) {
            const s = this.state;
            const fw = rt.fw;
            const prev = s.faultState;
            if (prev === f) return false;
            const wasTransferring = isTransferring(s.state);
            this.emitEvent("fault", {
                sessionId: s.sessionId ?? null,
                state: s.state,
                faultStatePreviousState: prev,
                faultStateCurrentState: f,
            });
            s.faultState = f;
            if (f !== Flt.NoError) {
                if (!fw.savedBeforeFault) fw.savedBeforeFault = { state: s.state, supply: s.supplyState };
                s.state = St.Fault;
                s.supplyState = Sup.DisabledError;
                if (defect("extra-event-on-fault") && prev === Flt.NoError && wasTransferring) {
                    const saved = fw.savedBeforeFault;
                    this.emitEvent("energyTransferStopped", {
                        sessionId: s.sessionId ?? 0,
                        state: saved.state,
                        reason: Reason.Other,
                        energyTransferred: Math.max(0, Math.round(rt.meterMwh() - (fw.meterAtTransferStart ?? rt.meterMwh()))),
                        ...(v2x ? { energyDischarged: 0 } : {}),
                    });
                }
            } else {
                const saved = fw.savedBeforeFault ?? { state: St.NotPluggedIn, supply: Sup.Disabled };
                fw.savedBeforeFault = null;
                s.state = saved.state;
                s.supplyState = defect("fault-does-not-restore-supply-state") ? Sup.Disabled : saved.supply;
            }
            this.recomputeSchedule();
            this.afterCommit(() => rt.outputsMayChange());
            this.afterCommit(() => rt.scheduleExpiry());
            return true;
        }

        hwDiagnosticsComplete() {
            if (this.state.supplyState !== Sup.DisabledDiagnostics) return false;
            this.state.supplyState = Sup.Disabled;
            this.recomputeSchedule();
            return true;
        }

        hwSetCableLimit(mA) {
            rt.fw.cableLimit = mA;
            this.recomputeLimits();
            this.recomputeSchedule();
        }

        setCircuitCapacity(mA) {
            this.state.circuitCapacity = mA;
            rt.store.set({ circuitCapacity: mA });
            this.recomputeLimits();
            this.recomputeSchedule();
        }

        // ------------------------------------------------------------------ commands (SDK EnergyEvseDelegateImpl)
        disable() {
            const s = this.state;
            if (s.faultState !== Flt.NoError || s.supplyState === Sup.DisabledDiagnostics) {
                fail(Status.Failure, "Disable refused while faulted or in diagnostics");
            }
            this.doDisable();
        }

        doDisable() {
            const s = this.state;
            s.chargingEnabledUntil = EPOCH0;
            if (v2x) s.dischargingEnabledUntil = EPOCH0;
            s.minimumChargeCurrent = 0;
            rt.store.set({ chargingEnabledUntil: EPOCH0, dischargingEnabledUntil: EPOCH0, minimumChargeCurrent: 0, commandMaxCharge: 0, commandMaxDischarge: 0 });
            this.recomputeLimits();
            s.supplyState = Sup.Disabled;
            if (isTransferring(s.state)) {
                this.energyTransferStopped(Reason.EvseStopped);
                s.state = rt.fw.hwState === HW.PluggedInDemand ? St.PluggedInDemand : rt.fw.hwState === HW.PluggedInNoDemand ? St.PluggedInNoDemand : St.NotPluggedIn;
            }
            this.recomputeSchedule();
            this.afterCommit(() => rt.scheduleExpiry());
        }

        enableCharging({ chargingEnabledUntil, minimumChargeCurrent, maximumChargeCurrent }) {
            const s = this.state;
            const min = Number(minimumChargeCurrent);
            const max = Number(maximumChargeCurrent);
            if (min < 0 || max < 0) fail(Status.ConstraintError, "negative current");
            if (min > max && !defect("min-greater-than-max-accepted")) fail(Status.ConstraintError, "MinimumChargeCurrent > MaximumChargeCurrent");
            const faulted = s.faultState !== Flt.NoError && !defect("enable-charging-accepted-while-faulted");
            if (faulted || s.supplyState === Sup.DisabledDiagnostics) {
                fail(Status.Failure, "EnableCharging refused while faulted or in diagnostics");
            }
            const until = chargingEnabledUntil === null || chargingEnabledUntil === undefined ? null : Number(chargingEnabledUntil);
            s.chargingEnabledUntil = until;
            s.minimumChargeCurrent = min;
            rt.store.set({ chargingEnabledUntil: until, minimumChargeCurrent: min, commandMaxCharge: max });
            this.recomputeLimits();
            if (s.supplyState === Sup.Disabled) s.supplyState = Sup.ChargingEnabled;
            else if (s.supplyState === Sup.DischargingEnabled) s.supplyState = Sup.Enabled;
            if (s.state === St.PluggedInDemand) {
                s.state = St.PluggedInCharging;
                this.energyTransferStarted();
            }
            this.recomputeSchedule();
            this.afterCommit(() => rt.scheduleExpiry());
        }

        enableDischarging({ dischargingEnabledUntil, maximumDischargeCurrent }) {
            const s = this.state;
            const max = Number(maximumDischargeCurrent);
            if (max < 0) fail(Status.ConstraintError, "negative current");
            if (s.faultState !== Flt.NoError || s.supplyState === Sup.DisabledDiagnostics) {
                fail(Status.Failure, "EnableDischarging refused while faulted or in diagnostics");
            }
            const until = dischargingEnabledUntil === null || dischargingEnabledUntil === undefined ? null : Number(dischargingEnabledUntil);
            s.dischargingEnabledUntil = until;
            rt.store.set({ dischargingEnabledUntil: until, commandMaxDischarge: max });
            this.recomputeLimits();
            if (s.supplyState === Sup.Disabled) s.supplyState = Sup.DischargingEnabled;
            else if (s.supplyState === Sup.ChargingEnabled) s.supplyState = Sup.Enabled;
            this.recomputeSchedule();
            this.afterCommit(() => rt.scheduleExpiry());
        }

        doStartDiagnostics() {
            const s = this.state;
            if (s.supplyState !== Sup.Disabled) fail(Status.Failure, "StartDiagnostics requires SupplyState Disabled");
            s.supplyState = Sup.DisabledDiagnostics;
            this.recomputeSchedule();
        }

        setTargets({ chargingTargetSchedules }) {
            const incoming = normalizeSchedules(chargingTargetSchedules);
            validateSchedules(incoming, { soc });
            const merged = defect("targets-merge-wrong") ? incoming.filter(x => x.dayOfWeekForSequence) : mergeSchedules(rt.store.data.targets, incoming);
            rt.store.set({ targets: merged });
            this.recomputeSchedule();
        }

        getTargets() {
            return { chargingTargetSchedules: toWire(rt.store.data.targets) };
        }

        clearTargets() {
            rt.store.set({ targets: [] });
            this.recomputeSchedule();
        }

        // ------------------------------------------------------------------ ChargingEnabledUntil expiry (SDK EnergyEvseDelegateImpl)
        /** Returns ms until the next check is due, or null when no timer is needed. Applies expiries first. */
        checkExpiry() {
            const s = this.state;
            if (defect("charging-enabled-until-ignored")) return null;
            const supply = s.supplyState;
            const now = Date.now() / 1000;
            const chUntil = s.chargingEnabledUntil;
            const diUntil = v2x ? s.dischargingEnabledUntil : null;
            const expired = u => u !== null && u !== undefined && Number(u) <= now;
            if (supply === Sup.ChargingEnabled && expired(chUntil)) {
                this.doDisable();
                return null;
            }
            if (supply === Sup.DischargingEnabled && expired(diUntil)) {
                this.doDisable();
                return null;
            }
            if (supply === Sup.Enabled) {
                const ce = expired(chUntil);
                const de = expired(diUntil);
                if (ce && de) {
                    this.doDisable();
                    return null;
                }
                if (ce) {
                    s.chargingEnabledUntil = EPOCH0;
                    s.minimumChargeCurrent = 0;
                    rt.store.set({ chargingEnabledUntil: EPOCH0, minimumChargeCurrent: 0, commandMaxCharge: 0 });
                    s.supplyState = Sup.DischargingEnabled;
                    this.recomputeLimits();
                    this.recomputeSchedule();
                } else if (de) {
                    s.dischargingEnabledUntil = EPOCH0;
                    rt.store.set({ dischargingEnabledUntil: EPOCH0, commandMaxDischarge: 0 });
                    s.supplyState = Sup.ChargingEnabled;
                    this.recomputeLimits();
                    this.recomputeSchedule();
                }
            }
            const pending = [];
            if (s.supplyState === Sup.ChargingEnabled || s.supplyState === Sup.Enabled) pending.push(s.chargingEnabledUntil);
            if (s.supplyState === Sup.DischargingEnabled || s.supplyState === Sup.Enabled) pending.push(s.dischargingEnabledUntil);
            const future = pending.filter(u => u !== null && u !== undefined).map(Number);
            if (!future.length) return null;
            return Math.max(0, Math.min(...future) * 1000 - Date.now());
        }
    }

    let Cls = VirtualEvseServer;
    if (cfg.optional.startDiagnostics) {
        Cls = class VirtualEvseServerWithDiagnostics extends VirtualEvseServer {
            startDiagnostics() {
                this.doStartDiagnostics();
            }
        };
    }
    return Cls;
}
