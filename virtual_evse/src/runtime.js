// Firmware runtime: volatile hardware model, meter, timers and the glue between external inputs (triggers, hardware
// port, timers) and the matter.js EVSE behavior (every change runs inside endpoint.act → one transaction).
import { Flt, St } from "./evse-server.js";

export function createRuntime(cfg, store) {
    const hw = cfg.hardware;
    const rt = {
        cfg,
        store,
        endpoint: undefined,
        EvseServer: undefined,
        ModeServer: undefined,
        modeTags: undefined,
        ready: false,
        forceQuiet: false,
        lastSource: null,
        outputListeners: new Set(),
        fw: {
            hwState: 0,
            cableLimit: null, // mA, null = tethered / no limit from a cable
            hwMaxCharge: hw.maxHardwareChargeCurrent,
            hwMaxDischarge: hw.maxHardwareDischargeCurrent,
            mainsMv: hw.nominalMainsVoltage_mV,
            faultSources: { trigger: null, bench: null },
            savedBeforeFault: null,
            sessionStartMs: null,
            meterAtSessionStart: 0,
            dischargeAtSessionStart: 0,
            meterAtTransferStart: null,
            dischargeAtTransferStart: null,
            savedBasic: null,
            savedPlug: null,
            savedDemand: null,
        },
        meter: { internalMwh: 0, dischargeMwh: 0, benchMwh: null, benchPowerMw: null, lastTickMs: Date.now(), powerMw: 0 },
        bench: { attached: false },
    };
    let pending = [];
    let flushTimer;
    let expiryTimer;
    let lastSessionUpdateMs = 0;

    rt.log = obj => {
        if (rt.ready) process.stdout.write(`${JSON.stringify(obj, (k, v) => (typeof v === "bigint" ? Number(v) : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v))}\n`);
    };

    /** Run fn after the current transaction has committed (commands commit after the handler returns). */
    rt.afterCommit = fn => {
        pending.push(fn);
        if (!flushTimer) {
            flushTimer = setTimeout(() => {
                flushTimer = undefined;
                const list = pending;
                pending = [];
                for (const f of list) {
                    try {
                        const r = f();
                        if (r && typeof r.catch === "function") r.catch(e => console.error("afterCommit", e));
                    } catch (e) {
                        console.error("afterCommit", e);
                    }
                }
            }, 15);
        }
    };

    /**
     * One firmware transaction on the EVSE endpoint. The EVSE (and mode) behaviors are locked asynchronously first,
     * like matter.js does for command invocations, so concurrent commands, triggers and timers serialize instead of
     * failing with "Cannot lock … synchronously".
     */
    // Firmware transactions run one at a time. Awaiting the behavior locks alone is not enough: a transaction that
    // waited for another one could still find the EVSE state datasource locked when it first writes
    // ("Cannot lock … state synchronously"), which surfaced as a FAILURE answer to a trigger under load.
    let firmwareChain = Promise.resolve();
    rt.act = fn => {
        if (!rt.endpoint) return Promise.resolve(undefined);
        const run = () =>
            rt.endpoint.act("firmware", async agent => {
                const evse = agent.get(rt.EvseServer);
                const tx = agent.context.transaction;
                const resources = [evse];
                if (rt.ModeServer && agent.has(rt.ModeServer)) resources.push(agent.get(rt.ModeServer));
                await tx.addResources(...resources);
                await tx.begin();
                return fn(evse, agent);
            });
        const result = firmwareChain.then(run, run);
        firmwareChain = result.then(
            () => undefined,
            () => undefined,
        );
        return result;
    };

    rt.evseState = () => rt.endpoint.stateOf(rt.EvseServer);

    rt.meterMwh = () => (rt.bench.attached && rt.meter.benchMwh !== null ? rt.meter.benchMwh : rt.meter.internalMwh);
    rt.dischargeMeterMwh = () => rt.meter.dischargeMwh;

    rt.forceSessionReports = () => {
        if (!rt.endpoint) return;
        const ev = rt.endpoint.eventsOf(rt.EvseServer);
        const st = rt.evseState();
        rt.forceQuiet = true;
        try {
            for (const name of ["sessionDuration", "sessionEnergyCharged", "sessionEnergyDischarged"]) {
                const q = ev[`${name}$Changed`]?.quiet;
                if (q && st[name] !== undefined) q.emit(st[name], st[name]);
            }
        } finally {
            rt.forceQuiet = false;
        }
    };

    rt.scheduleExpiry = async () => {
        if (expiryTimer) clearTimeout(expiryTimer);
        expiryTimer = undefined;
        if (!rt.endpoint) return;
        const ms = await rt.act(evse => evse.checkExpiry());
        if (ms !== null && ms !== undefined) {
            expiryTimer = setTimeout(() => rt.scheduleExpiry().catch(e => console.error("expiry", e)), Math.min(ms + 50, 0x7fffffff));
        }
    };

    /** Effective fault: a trigger-raised fault wins over a bench-derived one; none → NoError. */
    rt.applyFaults = evse => {
        const f = rt.fw.faultSources.trigger ?? rt.fw.faultSources.bench ?? Flt.NoError;
        return evse.hwSetFault(f);
    };

    /** Re-evaluate NextCharge* once the current target time has passed (the next target becomes current). */
    let targetTimer;
    let targetAt = null;
    rt.armTargetTimer = at => {
        if (at === targetAt) return;
        targetAt = at;
        if (targetTimer) clearTimeout(targetTimer);
        targetTimer = undefined;
        if (at === null || at === undefined) return;
        const ms = Math.min(Math.max(0, at * 1000 - Date.now()) + 1000, 0x7fffffff);
        targetTimer = setTimeout(() => {
            targetTimer = undefined;
            targetAt = null;
            rt.act(evse => evse.recomputeSchedule()).catch(e => console.error("target recheck", e));
        }, ms);
        targetTimer.unref?.();
    };

    let outputsTimer;
    rt.outputsMayChange = () => {
        if (outputsTimer) return;
        outputsTimer = setTimeout(() => {
            outputsTimer = undefined;
            for (const l of rt.outputListeners) l();
        }, 5);
    };

    /** 1 s tick: internal meter integration, power/energy measurement clusters, 30 s session statistics. */
    rt.tick = async () => {
        if (!rt.endpoint) return;
        const now = Date.now();
        const dt = (now - rt.meter.lastTickMs) / 1000;
        rt.meter.lastTickMs = now;
        const st = rt.evseState();
        const charging = st.state === St.PluggedInCharging;
        const discharging = st.state === St.PluggedInDischarging;
        let powerMw = 0;
        if (rt.bench.attached && rt.meter.benchPowerMw !== null) powerMw = rt.meter.benchPowerMw;
        else if (charging) powerMw = (rt.fw.mainsMv / 1000) * Number(st.maximumChargeCurrent); // V × mA = mW
        else if (discharging) powerMw = -(rt.fw.mainsMv / 1000) * Number(st.maximumDischargeCurrent ?? 0);
        if (charging && !(rt.bench.attached && rt.meter.benchMwh !== null)) rt.meter.internalMwh += (Math.max(0, powerMw) * dt) / 3600;
        if (discharging) rt.meter.dischargeMwh += (Math.max(0, -powerMw) * dt) / 3600;
        rt.meter.powerMw = powerMw;
        if ((charging || discharging) && rt.fw.sessionStartMs !== null && now - lastSessionUpdateMs >= 30_000) {
            lastSessionUpdateMs = now;
            await rt.act(evse => evse.updateSession());
        }
        if (!charging && !discharging) lastSessionUpdateMs = now;
        await rt.updateMeasurements?.();
    };

    return rt;
}
