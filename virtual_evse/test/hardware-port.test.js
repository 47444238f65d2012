// Starts the virtual EVSE with a hardware port (fresh storage, unused UDP port) and drives it like a bench.
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
let dir;
let proc;
let client;
const pending = [];
const pushed = [];

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
        pending.push(resolve);
        client.write(typeof obj === "string" ? `${obj}\n` : `${JSON.stringify(obj)}\n`);
    });
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

before(async () => {
    dir = mkdtempSync(join(tmpdir(), "vevse-test-"));
    const sock = join(dir, "hw.sock");
    const port = await freeUdpPort();
    // persisted firmware state as left by an earlier EnableCharging(null, 6000, 32000): boots ChargingEnabled
    mkdirSync(join(dir, "storage"), { recursive: true });
    writeFileSync(join(dir, "storage", "vevse-state.json"), JSON.stringify({ chargingEnabledUntil: null, minimumChargeCurrent: 6000, commandMaxCharge: 32000 }));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ storagePath: join(dir, "storage"), port, hardwarePort: sock, discriminator: 1234, interface: "lo" }));
    proc = spawn(process.execPath, [join(root, "src", "main.js")], {
        env: { ...process.env, VEVSE_CONFIG: join(dir, "config.json") },
        stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stderr.resume();
    const ready = await new Promise((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error("no ready line within 20 s")), 20000);
        proc.stdout.on("data", d => {
            out += d;
            const nl = out.indexOf("\n");
            if (nl >= 0) {
                clearTimeout(timer);
                resolve(JSON.parse(out.slice(0, nl)));
            }
        });
        proc.on("exit", code => reject(new Error(`exited with ${code}`)));
    });
    assert.equal(ready.event, "ready");
    assert.equal(ready.port, port);
    assert.equal(ready.commissioned, false);
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
            if (msg.event === "outputs") pushed.push(msg);
            else pending.shift()?.(msg);
        }
    });
});

after(async () => {
    client?.destroy();
    if (proc && proc.exitCode === null) {
        const exited = new Promise(r => proc.once("exit", r));
        proc.kill("SIGTERM");
        const code = await exited;
        assert.equal(code, 0);
    }
    rmSync(dir, { recursive: true, force: true });
});

test("bad messages get an error reply and the connection stays open", async () => {
    const r1 = await request("this is not json");
    assert.equal(r1.ok, false);
    assert.match(r1.error, /JSON/);
    const r2 = await request({ op: "fly" });
    assert.equal(r2.ok, false);
    const r3 = await request({ op: "inputs", cp_high_v: "high" });
    assert.equal(r3.ok, false);
    const r4 = await request({ op: "get" });
    assert.equal(r4.ok, true);
});

test("pilot B then C drives the state machine and the outputs", async () => {
    const a = await request({ op: "attach" });
    assert.equal(a.ok, true);
    assert.equal(a.outputs.cp_mode, "+12V");
    assert.equal((await request({ op: "subscribe" })).ok, true);
    assert.equal((await request({ op: "inputs", cp_high_v: 12, cp_low_v: -12, pp_ohm: 220, mains_v: 230 })).ok, true);
    let g = await request({ op: "get" });
    assert.equal(g.state.State, 0);
    assert.equal(g.outputs.cp_mode, "+12V");

    assert.equal(g.state.SupplyState, 1, "ChargingEnabled restored from storage at boot");

    // B: EV connected → EVPluggedIn, PWM after pwmStartDelayMs
    await request({ op: "inputs", cp_high_v: 9 });
    g = await request({ op: "get" });
    assert.equal(g.state.State, 1, "PluggedInNoDemand");
    assert.equal(g.state.SessionID, 0);
    assert.equal(g.state.cableLimit, 32000);
    assert.equal(g.state.MaximumChargeCurrent, 32000);
    await sleep(250);
    g = await request({ op: "get" });
    assert.equal(g.outputs.cp_mode, "pwm");
    assert.equal(g.outputs.duty_pct, 53.3);
    assert.equal(g.outputs.contactor, false);

    // C: demand → charging, contactor closes after contactorDelayMs
    await request({ op: "inputs", cp_high_v: 6 });
    g = await request({ op: "get" });
    assert.equal(g.state.State, 3, "PluggedInCharging");
    await sleep(350);
    g = await request({ op: "get" });
    assert.equal(g.outputs.contactor, true);

    // 20 A cable lowers the advertised current
    await request({ op: "inputs", pp_ohm: 680 });
    g = await request({ op: "get" });
    assert.equal(g.state.MaximumChargeCurrent, 20000);
    assert.equal(g.outputs.duty_pct, 33.3);

    // C → B: contactor opens, State back to PluggedInNoDemand
    await request({ op: "inputs", cp_high_v: 9 });
    await sleep(100);
    g = await request({ op: "get" });
    assert.equal(g.state.State, 1);
    assert.equal(g.outputs.contactor, false);

    // A: unplugged, PWM off
    await request({ op: "inputs", cp_high_v: 12 });
    await sleep(50);
    g = await request({ op: "get" });
    assert.equal(g.state.State, 0);
    assert.equal(g.outputs.cp_mode, "+12V");

    // ground fault from residual current, cleared when it goes away
    await request({ op: "inputs", residual_ma_ac: 40 });
    g = await request({ op: "get" });
    assert.equal(g.state.FaultState, 7);
    assert.equal(g.state.SupplyState, 3);
    assert.equal(g.outputs.cp_mode, "-12V");
    await request({ op: "inputs", residual_ma_ac: 0 });
    g = await request({ op: "get" });
    assert.equal(g.state.FaultState, 0);
    assert.equal(g.outputs.cp_mode, "+12V");
    assert.ok(pushed.some(p => p.cp_mode === "-12V"), "output change pushed to the subscriber");
    assert.equal((await request({ op: "detach" })).ok, true);
});

test("rating: the hardware limit and CircuitCapacity change and are given back; bad values refused", async () => {
    assert.equal((await request({ op: "rating", maxHardwareChargeCurrent: "80 A" })).ok, false);
    assert.equal((await request({ op: "rating", cableLimit: 80000 })).ok, false);
    const before = (await request({ op: "get" })).state.MaximumChargeCurrent;
    const r = await request({ op: "rating", maxHardwareChargeCurrent: 16000, circuitCapacity: 80000 });
    assert.equal(r.ok, true);
    assert.deepEqual(r.previous, { maxHardwareChargeCurrent: 32000, circuitCapacity: 32000 });
    let g = await request({ op: "get" });
    assert.equal(g.state.CircuitCapacity, 80000);
    assert.equal(g.state.MaximumChargeCurrent, Math.min(16000, before), "the hardware limit takes part");
    assert.equal((await request({ op: "rating", ...r.previous })).ok, true);
    g = await request({ op: "get" });
    assert.equal(g.state.CircuitCapacity, 32000);
    assert.equal(g.state.MaximumChargeCurrent, before);
});

test("duty cycle per IEC 61851-1 Annex A, and the defect keeping the 6-51 A formula above 51 A", async () => {
    const { dutyFromCurrent } = await import("../src/hardware-port.js");
    const cases = [[5999, null], [6000, 10], [6600, 11], [50400, 84], [51000, 85], [51600, 84.6], [52500, 85], [79500, 95.8], [80000, 96]];
    for (const [mA, duty] of cases) assert.equal(dutyFromCurrent(mA), duty, `${mA} mA`);
    assert.equal(dutyFromCurrent(51000, { lowFormulaOnly: true }), 85);
    assert.equal(dutyFromCurrent(51600, { lowFormulaOnly: true }), 86);
    assert.equal(dutyFromCurrent(80000, { lowFormulaOnly: true }), 96);
});
