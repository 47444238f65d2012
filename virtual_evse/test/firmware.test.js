// Offline firmware tests: the EVSE behaviour inside a matter.js node that is built but not started (no network),
// driven through the same entry points as Matter commands and test event triggers.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Console } from "node:console";

globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
const dirs = [];
process.env.MATTER_LOG_LEVEL = "error";
process.env.MATTER_STORAGE_PATH = mkdtempSync(join(tmpdir(), "vevse-fw-"));
dirs.push(process.env.MATTER_STORAGE_PATH);

const { loadConfig } = await import("../src/config.js");
const { Store } = await import("../src/store.js");
const { createRuntime } = await import("../src/runtime.js");
const { createNode } = await import("../src/device.js");
const { applyTrigger } = await import("../src/triggers.js");
const { Status } = await import("@matter/main/types");

const nodes = [];
let nodeSeq = 0;
after(async () => {
    for (const n of nodes) await n.close().catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function makeEvse(extra = {}) {
    const dir = mkdtempSync(join(tmpdir(), "vevse-fw-"));
    dirs.push(dir);
    const cfgPath = join(dir, "config.json");
    writeFileSync(cfgPath, JSON.stringify({ storagePath: join(dir, "storage"), ...extra }));
    const cfg = loadConfig(cfgPath);
    const rt = createRuntime(cfg, new Store(cfg.storagePath));
    const { node, endpoint } = await createNode(rt, `vevse-test-${nodeSeq++}`);
    nodes.push(node);
    const events = [];
    const ev = endpoint.eventsOf(rt.EvseServer);
    for (const name of ["evConnected", "evNotDetected", "energyTransferStarted", "energyTransferStopped", "fault", "rfid"]) {
        ev[name]?.on(payload => events.push({ name, ...payload }));
    }
    const trig = name => rt.act((evse, agent) => applyTrigger(name, evse, rt, agent));
    const cmd = (name, args) => rt.act(evse => evse[name](args));
    const st = () => rt.evseState();
    const take = () => events.splice(0).map(e => e.name);
    return { rt, endpoint, events, trig, cmd, st, take };
}

async function status(promise) {
    try {
        await promise;
        return "SUCCESS";
    } catch (e) {
        return Status[e.code] ?? String(e);
    }
}
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function until(cond, timeoutMs) {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
        if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
        await sleep(50);
    }
}

test("TC-2.2 shape: sessions, enable/disable, demand, expiry", async () => {
    const d = await makeEvse();
    await d.trig("basic");
    assert.deepEqual([d.st().state, d.st().supplyState, d.st().faultState], [0, 0, 0]);
    await d.trig("pluggedin");
    assert.deepEqual(d.take(), ["evConnected"]);
    assert.equal(d.st().sessionId, 0);
    const enabledUntil = Math.ceil(Date.now() / 1000) + 1; // 1–2 s ahead
    assert.equal(await status(d.cmd("enableCharging", { chargingEnabledUntil: enabledUntil, minimumChargeCurrent: 6000, maximumChargeCurrent: 60000 })), "SUCCESS");
    await d.trig("charge_demand");
    assert.deepEqual(d.take(), ["energyTransferStarted"]);
    assert.equal(d.st().state, 3);
    assert.equal(d.st().maximumChargeCurrent, 32000);
    await until(() => d.events.some(e => e.name === "energyTransferStopped"), 4000);
    const stopped = d.events.find(e => e.name === "energyTransferStopped");
    assert.ok(stopped, "expiry stops the transfer");
    assert.equal(stopped.reason, 1);
    d.take();
    assert.deepEqual([d.st().state, d.st().supplyState], [2, 0]);
    await d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 12000 });
    assert.deepEqual(d.take(), ["energyTransferStarted"]);
    assert.equal(d.st().maximumChargeCurrent, 12000);
    await d.trig("charge_demand_clear");
    const ev = d.events.at(-1);
    assert.deepEqual([ev.name, ev.reason], ["energyTransferStopped", 0]);
    d.take();
    await d.trig("pluggedin_clear");
    assert.deepEqual(d.take(), ["evNotDetected"]);
    assert.equal(d.st().supplyState, 1, "unplug does not touch SupplyState");
    await d.trig("pluggedin");
    assert.equal(d.events.at(-1).sessionId, 1);
    await d.trig("charge_demand");
    assert.deepEqual(d.take(), ["evConnected", "energyTransferStarted"]);
    assert.equal(await status(d.cmd("disable")), "SUCCESS");
    assert.equal(d.events.at(-1).reason, 1);
});

test("validation: min > max, fault / diagnostics FAILURE, nothing changed", async () => {
    const d = await makeEvse();
    assert.equal(await status(d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 7000, maximumChargeCurrent: 6000 })), "ConstraintError");
    assert.equal(d.st().supplyState, 0);
    await d.trig("basic");
    await d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 60000 });
    assert.equal(await status(d.cmd("startDiagnostics")), "Failure");
    await d.cmd("disable");
    assert.equal(await status(d.cmd("startDiagnostics")), "SUCCESS");
    assert.equal(d.st().supplyState, 4);
    assert.equal(await status(d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 16000 })), "Failure");
    assert.equal(d.st().supplyState, 4);
    assert.equal(d.st().minimumChargeCurrent, 0, "FAILURE left MinimumChargeCurrent untouched");
    await d.trig("evse_diagnostics_complete");
    assert.equal(d.st().supplyState, 0);
});

test("TC-2.4 shape: faults restore State and SupplyState, no transfer events", async () => {
    const d = await makeEvse();
    await d.trig("basic");
    await d.trig("pluggedin");
    await d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 60000 });
    await d.trig("charge_demand");
    d.take();
    await d.trig("evse_ground_fault");
    await d.trig("evse_ground_fault");
    await d.trig("evse_over_temperature_fault");
    await d.trig("evse_fault_clear");
    const faults = d.events.splice(0);
    assert.deepEqual(faults.map(e => [e.name, e.state, e.faultStatePreviousState, e.faultStateCurrentState]), [
        ["fault", 3, 0, 7],
        ["fault", 6, 7, 15],
        ["fault", 6, 15, 0],
    ]);
    assert.deepEqual([d.st().state, d.st().supplyState], [3, 1]);
    await d.trig("charge_demand_clear");
    assert.deepEqual(d.take(), ["energyTransferStopped"]);
});

test("TC-2.3 shape: targets merge, errors, NextCharge*", async () => {
    const d = await makeEvse({ features: ["PREF", "V2X"] });
    const target = (m, extra) => ({ targetTimeMinutesPastMidnight: m, ...extra });
    const all = { monday: true, tuesday: true, wednesday: true, thursday: true, friday: true, saturday: true, sunday: true };
    await d.trig("basic");
    await d.trig("pluggedin");
    await d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: all, chargingTargets: [target(1439, { addedEnergy: 25_000_000 })] }] });
    assert.equal(d.st().nextChargeTargetTime, null, "SupplyState Disabled → null");
    await d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 60000 });
    const t = new Date();
    let expected = new Date(t.getFullYear(), t.getMonth(), t.getDate(), 23, 59, 0, 0);
    if (expected <= t) expected = new Date(t.getFullYear(), t.getMonth(), t.getDate() + 1, 23, 59, 0, 0);
    assert.equal(d.st().nextChargeTargetTime, Math.floor(expected.getTime() / 1000));
    assert.ok(d.st().nextChargeStartTime < d.st().nextChargeTargetTime);
    assert.equal(d.st().nextChargeRequiredEnergy, 25_000_000);
    assert.equal(d.st().nextChargeTargetSoC, null);
    await d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: all, chargingTargets: [target(1, { targetSoC: 100 })] }] });
    await d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: { saturday: true }, chargingTargets: [target(60, { addedEnergy: 1 })] }] });
    await d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: { sunday: true }, chargingTargets: [] }] });
    const got = await d.cmd("getTargets");
    const days = got.chargingTargetSchedules.map(s => Object.entries(s.dayOfWeekForSequence).filter(([, v]) => v).length);
    assert.deepEqual(days, [5, 1, 1]);
    assert.equal(got.chargingTargetSchedules[0].dayOfWeekForSequence.monday, true);
    assert.equal(got.chargingTargetSchedules[2].dayOfWeekForSequence.sunday, true);
    const dup = { dayOfWeekForSequence: { sunday: true }, chargingTargets: [target(60, { addedEnergy: 1 })] };
    assert.equal(await status(d.cmd("setTargets", { chargingTargetSchedules: [dup, dup] })), "ConstraintError");
    const eleven = Array.from({ length: 11 }, (_, i) => target(60 + i * 60, { addedEnergy: 1 }));
    assert.equal(await status(d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: { saturday: true }, chargingTargets: eleven }] })), "ResourceExhausted");
    assert.equal(await status(d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: { saturday: true }, chargingTargets: [target(60)] }] })), "Failure");
    assert.equal(await status(d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: { saturday: true }, chargingTargets: [target(60, { targetSoC: 80 })] }] })), "ConstraintError");
    assert.equal((await d.cmd("getTargets")).chargingTargetSchedules.length, 3, "errors change nothing");
    await d.cmd("clearTargets");
    assert.equal((await d.cmd("getTargets")).chargingTargetSchedules.length, 0);
    assert.equal(d.st().nextChargeTargetTime, null);
});

test("TC-2.10 shape: V2X Enabled, discharge expiry first", async () => {
    const d = await makeEvse();
    await d.trig("basic");
    await d.trig("pluggedin");
    const now = Math.ceil(Date.now() / 1000);
    await d.cmd("enableCharging", { chargingEnabledUntil: now + 4, minimumChargeCurrent: 6000, maximumChargeCurrent: 60000 });
    await d.cmd("enableDischarging", { dischargingEnabledUntil: now + 1, maximumDischargeCurrent: 32000 });
    assert.equal(d.st().supplyState, 5);
    await d.trig("charge_demand");
    const started = d.events.at(-1);
    assert.deepEqual([started.maximumCurrent, started.maximumDischargeCurrent], [32000, 32000]);
    await until(() => d.st().supplyState === 1, 3000);
    assert.deepEqual([d.st().supplyState, d.st().dischargingEnabledUntil, d.st().maximumDischargeCurrent], [1, 946684800, 0]);
    assert.equal(d.st().chargingEnabledUntil, now + 4);
    await until(() => d.st().supplyState === 0, 6000);
    assert.deepEqual([d.st().supplyState, d.st().chargingEnabledUntil, d.st().minimumChargeCurrent, d.st().maximumChargeCurrent], [0, 946684800, 0, 0]);
    assert.equal(d.events.at(-1).name, "energyTransferStopped");
});

test("defects: session id, extra event, no ETStarted", async () => {
    const d = await makeEvse({ defects: ["session-id-not-incremented", "extra-event-on-fault", "no-energy-transfer-started-event"] });
    await d.trig("basic");
    await d.trig("pluggedin");
    await d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 16000 });
    await d.trig("charge_demand");
    assert.deepEqual(d.take(), ["evConnected"]);
    assert.equal(d.st().state, 3);
    await d.trig("evse_ground_fault");
    assert.deepEqual(d.take(), ["fault", "energyTransferStopped"]);
    await d.trig("evse_fault_clear");
    await d.trig("pluggedin_clear");
    await d.trig("pluggedin");
    assert.equal(d.events.at(-1).sessionId, 0);
});

test("defects: state, expiry, circuit capacity, merge, min>max, supply restore", async () => {
    const d = await makeEvse({
        defects: ["state-change-not-reported", "charging-enabled-until-ignored", "max-current-ignores-circuit-capacity", "targets-merge-wrong", "min-greater-than-max-accepted", "fault-does-not-restore-supply-state"],
        hardware: { maxHardwareChargeCurrent: 40000 },
    });
    await d.trig("basic"); // HW limit 32 A, CircuitCapacity 32 A
    await d.trig("pluggedin");
    assert.equal(d.st().state, 0, "State not updated on plug-in");
    assert.deepEqual(d.take(), ["evConnected"]);
    await d.rt.act(evse => evse.setCircuitCapacity(10000));
    assert.equal(await status(d.cmd("enableCharging", { chargingEnabledUntil: Math.floor(Date.now() / 1000) + 1, minimumChargeCurrent: 20000, maximumChargeCurrent: 16000 })), "SUCCESS");
    assert.equal(d.st().maximumChargeCurrent, 16000, "CircuitCapacity 10 A ignored");
    await sleep(1500);
    assert.equal(d.st().supplyState, 1, "ChargingEnabledUntil never expires");
    await d.trig("evse_ground_fault");
    await d.trig("evse_fault_clear");
    assert.equal(d.st().supplyState, 0, "SupplyState not restored");
    const all = { monday: true, tuesday: true, wednesday: true, thursday: true, friday: true, saturday: true, sunday: true };
    await d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: all, chargingTargets: [{ targetTimeMinutesPastMidnight: 1, targetSoC: 100 }] }] });
    await d.cmd("setTargets", { chargingTargetSchedules: [{ dayOfWeekForSequence: { sunday: true }, chargingTargets: [] }] });
    assert.equal((await d.cmd("getTargets")).chargingTargetSchedules.length, 1, "whole list replaced");
});

test("defects: negative UserMaximumChargeCurrent, EnableCharging while faulted", async () => {
    const ok = await makeEvse();
    assert.equal(await status(ok.rt.act(evse => evse.onUserMaxChanging(-1))), "ConstraintError");
    await ok.trig("evse_ground_fault");
    assert.equal(await status(ok.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 16000 })), "Failure");
    const d = await makeEvse({ defects: ["user-max-current-negative-accepted", "enable-charging-accepted-while-faulted"] });
    assert.equal(await status(d.rt.act(evse => evse.onUserMaxChanging(-1))), "SUCCESS");
    await d.trig("evse_ground_fault");
    assert.equal(await status(d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 16000 })), "SUCCESS");
    assert.equal(d.st().supplyState, 3, "SupplyState stays DisabledError");
});

test("defect: energy-transferred-wrong counts a later transfer from the session's start", async () => {
    const transfers = async defects => {
        const d = await makeEvse({ defects });
        await d.trig("basic");
        await d.trig("pluggedin");
        await d.cmd("enableCharging", { chargingEnabledUntil: null, minimumChargeCurrent: 6000, maximumChargeCurrent: 16000 });
        const out = [];
        for (const mwh of [1000, 500]) {
            await d.trig("charge_demand");
            d.rt.meter.internalMwh += mwh;
            await d.trig("charge_demand_clear");
            out.push(d.events.at(-1).energyTransferred);
        }
        return out;
    };
    assert.deepEqual(await transfers([]), [1000, 500]);
    assert.deepEqual(await transfers(["energy-transferred-wrong"]), [1000, 1500]);
});
