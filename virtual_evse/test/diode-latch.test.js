// The diode fault latch, end to end: a virtual EVSE process driven over its hardware port by a small pilot-circuit
// model (the EVSE's ±12 V behind 1 kΩ, the EV's diode and resistors), so the EVSE's own outputs feed back into what
// it measures — as on the virtual bench, where an unlatched diode fault toggled with the PWM it switched off.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PILOT_SHORT = 10;
let dir;
let proc;
let client;
const replies = [];
const faultEvents = []; // Fault events the EVSE emitted (its stdout JSON lines)
const matterEvents = [];
const outputs = { cp_mode: "+12V", duty_pct: null, contactor: false };
const ev = { connected: false, s2: false, diodeShorted: false, cpShort: false };
let lastSent = "";
let plantChain = Promise.resolve();

const sleep = ms => new Promise(r => setTimeout(r, ms));

async function freeUdpPort() {
    return new Promise(resolve => {
        const s = createSocket("udp6");
        s.bind(0, () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

function request(obj) {
    return new Promise(resolve => {
        replies.push(resolve);
        client.write(`${JSON.stringify(obj)}\n`);
    });
}

/** Sense-point voltage for the EVSE's source level `src` against the EV (plant.py pilot_voltage). */
function pilotVoltage(src) {
    if (ev.cpShort) return 0; // CP shorted to PE (state E)
    if (!ev.connected) return src;
    let load = 2740;
    if (ev.s2) load = (load * 1300) / (load + 1300);
    if (ev.diodeShorted) return (src * load) / (load + 1000);
    if (src <= 0.7) return src; // the diode blocks
    return 0.7 + ((src - 0.7) * load) / (load + 1000);
}

/** Send the pilot levels that follow from the EVSE's outputs and the EV (only when they change). */
function plant() {
    plantChain = plantChain.then(async () => {
        const src = { "+12V": 12, "-12V": -12, pwm: 12, off: 0 }[outputs.cp_mode];
        const high = Math.round(pilotVoltage(src) * 1000) / 1000;
        const low = outputs.cp_mode === "pwm" ? Math.round(pilotVoltage(-12) * 1000) / 1000 : null;
        const key = JSON.stringify([high, low]);
        if (key === lastSent) return;
        lastSent = key;
        await request({ op: "inputs", cp_high_v: high, cp_low_v: low });
    });
    return plantChain;
}

async function setEv(patch) {
    Object.assign(ev, patch);
    await plant();
}

async function get() {
    return request({ op: "get" });
}

async function until(what, pred, timeoutMs = 3000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const g = await get();
        if (pred(g)) return g;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last state ${JSON.stringify(g.state)} outputs ${JSON.stringify(g.outputs)}`);
        await sleep(20);
    }
}

before(async () => {
    dir = mkdtempSync(join(tmpdir(), "vevse-diode-"));
    const sock = join(dir, "hw.sock");
    const port = await freeUdpPort();
    // persisted as after EnableCharging(null, 6000, 32000): boots ChargingEnabled
    mkdirSync(join(dir, "storage"), { recursive: true });
    writeFileSync(join(dir, "storage", "vevse-state.json"), JSON.stringify({ chargingEnabledUntil: null, minimumChargeCurrent: 6000, commandMaxCharge: 32000 }));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ storagePath: join(dir, "storage"), port, hardwarePort: sock, discriminator: 1235, interface: "lo" }));
    proc = spawn(process.execPath, [join(root, "src", "main.js")], {
        env: { ...process.env, VEVSE_CONFIG: join(dir, "config.json") },
        stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stderr.resume();
    await new Promise((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error("no ready line within 20 s")), 20000);
        proc.stdout.setEncoding("utf8");
        proc.stdout.on("data", d => {
            out += d;
            let nl;
            while ((nl = out.indexOf("\n")) >= 0) {
                const msg = JSON.parse(out.slice(0, nl));
                out = out.slice(nl + 1);
                if (msg.event === "ready") {
                    clearTimeout(timer);
                    resolve();
                } else if (msg.event === "matter_event") {
                    matterEvents.push(msg.name);
                    if (msg.name === "fault") faultEvents.push(msg.fields);
                }
            }
        });
        proc.on("exit", code => reject(new Error(`exited with ${code}`)));
    });
    client = net.createConnection(sock);
    await new Promise(r => client.once("connect", r));
    let buf = "";
    client.setEncoding("utf8");
    client.on("data", d => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
            const msg = JSON.parse(buf.slice(0, i));
            buf = buf.slice(i + 1);
            if (msg.event === "outputs") {
                Object.assign(outputs, { cp_mode: msg.cp_mode, duty_pct: msg.duty_pct, contactor: msg.contactor });
                plant();
            } else {
                replies.shift()?.(msg);
            }
        }
    });
});

after(async () => {
    client?.destroy();
    if (proc && proc.exitCode === null) {
        const exited = new Promise(r => proc.once("exit", r));
        proc.kill("SIGTERM");
        assert.equal(await exited, 0);
    }
    rmSync(dir, { recursive: true, force: true });
});

test("a diode fault is latched until the EV is unplugged (one Fault event each way); a CP short is not", async () => {
    const a = await request({ op: "attach" });
    Object.assign(outputs, a.outputs);
    await request({ op: "subscribe" });
    await request({ op: "inputs", pp_ohm: 220, mains_v: 230 });
    await plant();

    // plugged in (B), PWM, the diode checks out; demand (C): charging, contactor closed
    await setEv({ connected: true });
    await until("PWM", g => g.outputs.cp_mode === "pwm");
    await setEv({ s2: true });
    let g = await until("contactor closed", g => g.outputs.contactor);
    assert.equal(g.state.State, 3);
    assert.deepEqual(faultEvents, []);

    // the EV's diode shorts: the negative PWM half is no longer clamped at -12 V
    await setEv({ diodeShorted: true });
    g = await until("PilotShortCircuit", g => g.state.FaultState === PILOT_SHORT);
    assert.equal(g.state.State, 6, "State Fault");
    await until("contactor open", g => !g.outputs.contactor); // contactorOpenDelayMs after the fault
    // with PWM off the EVSE cannot see the negative half any more: the fault must not clear (and re-raise) for that
    const modes = new Set();
    const t0 = Date.now();
    while (Date.now() - t0 < 1000) {
        g = await get();
        modes.add(g.outputs.cp_mode);
        assert.equal(g.state.FaultState, PILOT_SHORT, "latched while the diode is shorted");
        assert.equal(g.outputs.contactor, false);
        await sleep(20);
    }
    assert.deepEqual([...modes], ["+12V"], "PWM stays off; the pilot is held at +12 V to keep seeing the EV");
    assert.equal(faultEvents.length, 1, `one Fault event while latched, got ${JSON.stringify(faultEvents)}`);
    assert.deepEqual([faultEvents[0].faultStatePreviousState, faultEvents[0].faultStateCurrentState], [0, PILOT_SHORT]);

    // the diode is healthy again but the EV stays plugged in (C, then B): still latched, no PWM
    await setEv({ diodeShorted: false });
    await sleep(300);
    await setEv({ s2: false });
    await sleep(300);
    g = await get();
    assert.deepEqual([g.state.FaultState, g.outputs.cp_mode, g.state.hwState], [PILOT_SHORT, "+12V", "PluggedInNoDemand"]);
    assert.equal(faultEvents.length, 1);

    // unplugged (A): the latch clears, one Fault event, State NotPluggedIn
    const before = matterEvents.length;
    await setEv({ connected: false });
    g = await until("fault cleared", g => g.state.FaultState === 0);
    assert.deepEqual([g.state.State, g.state.SupplyState, g.outputs.cp_mode], [0, 1, "+12V"]);
    await sleep(50);
    assert.deepEqual(matterEvents.slice(before).sort(), ["evNotDetected", "fault"]);
    assert.equal(faultEvents.length, 2);
    assert.deepEqual([faultEvents[1].faultStatePreviousState, faultEvents[1].faultStateCurrentState], [PILOT_SHORT, 0]);

    // plugged in again with a healthy diode: PWM restarts, the check passes, charging resumes
    await setEv({ connected: true });
    await until("PWM again", g => g.outputs.cp_mode === "pwm");
    await setEv({ s2: true });
    g = await until("contactor closed again", g => g.outputs.contactor);
    assert.deepEqual([g.state.State, g.state.FaultState], [3, 0]);
    assert.equal(faultEvents.length, 2);

    // the diode shorts again and the EV is unplugged while it is: raised once, cleared once
    await setEv({ diodeShorted: true });
    await until("PilotShortCircuit again", g => g.state.FaultState === PILOT_SHORT);
    await sleep(300);
    await setEv({ s2: false, connected: false, diodeShorted: false });
    await until("cleared at unplug", g => g.state.FaultState === 0 && g.state.State === 0);
    assert.deepEqual(faultEvents.map(f => f.faultStateCurrentState), [PILOT_SHORT, 0, PILOT_SHORT, 0]);

    // a CP short (state E: 0 V on both phases) while PWM runs is not a diode failure: it clears once the short is
    // removed, with the EV still plugged in (no latch)
    await setEv({ connected: true });
    await until("PWM for the CP short", g => g.outputs.cp_mode === "pwm");
    await setEv({ cpShort: true });
    await until("CP short raised", g => g.state.FaultState === PILOT_SHORT);
    await sleep(200);
    await setEv({ cpShort: false });
    g = await until("CP short cleared without an unplug", g => g.state.FaultState === 0);
    assert.equal(g.state.hwState, "PluggedInNoDemand");
    assert.deepEqual(faultEvents.map(f => f.faultStateCurrentState), [PILOT_SHORT, 0, PILOT_SHORT, 0, PILOT_SHORT, 0]);
    await setEv({ connected: false });
    await request({ op: "detach" });
});
