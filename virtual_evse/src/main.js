#!/usr/bin/env node
// Virtual EVSE process entry point. Configuration: VEVSE_CONFIG=/path/to/config.json (see README.md).
// stdout carries JSON lines only (first the "ready" line); matter.js logs go to stderr.
// VEVSE_WAIT_FOR_START=1: a pre-started spare. Config and every module are loaded, then the process waits for the
// line "start" on stdin before it touches the storage, binds a socket or creates the node (EOF on stdin: exit 0).
import { Console } from "node:console";
import { ConfigError, loadConfig } from "./config.js";

// matter.js logs through globalThis.console (captured at import time): route everything to stderr.
globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });

let cfg;
try {
    cfg = loadConfig();
} catch (e) {
    process.stderr.write(`vevse: ${e.message}\n`);
    process.exit(e instanceof ConfigError ? (e.exitCode ?? 2) : 1);
}

let node;
let port;
let rt;
let shuttingDown = false;

// A reboot (after an OTA install): the line {"event":"reboot"} on stdout, the same bounded shutdown, then exit code
// REBOOT_EXIT_CODE; whoever started the process boots it again on the same storage (rig/dut/virtual.py).
async function shutdown(signal, code = 0) {
    if (shuttingDown) return;
    shuttingDown = true;
    const force = setTimeout(() => process.exit(code), 1800); // matter.js shutdown can take >10 s with a session open
    try {
        rt?.log({ event: signal === "reboot" ? "reboot" : "shutdown", signal });
        if (rt) clearInterval(rt.tickTimer);
        await Promise.all([port?.close(), node?.close()]);
    } catch (e) {
        process.stderr.write(`vevse: shutdown error ${e?.stack ?? e}\n`);
    }
    process.exit(code);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
// An error left unhandled while the node is torn down (a socket or a session closing under it) is logged; the
// shutdown still ends with exit 0, as a bounded shutdown promises. Before a shutdown it is a crash (exit 1).
for (const kind of ["unhandledRejection", "uncaughtException"]) {
    process.on(kind, e => {
        process.stderr.write(`vevse: ${kind}${shuttingDown ? " during shutdown" : ""}: ${e?.stack ?? e}\n`);
        if (!shuttingDown) process.exit(1);
    });
}

// matter.js reads these through its Environment; set them before importing it (it parses argv too — unused here).
process.env.MATTER_STORAGE_PATH = cfg.storagePath;
process.env.MATTER_LOG_LEVEL = cfg.logLevel;
process.env.MATTER_LOG_FORMAT = process.env.MATTER_LOG_FORMAT ?? "plain";
if (cfg.interface) process.env.MATTER_MDNS_NETWORKINTERFACE = cfg.interface;
// signals are handled here (bounded shutdown, exit 0), not by matter.js' ProcessManager
process.env.MATTER_RUNTIME_SIGNALS = "false";

const { Store } = await import("./store.js");
const { createRuntime } = await import("./runtime.js");
const { createNode } = await import("./device.js");
const { HardwarePort } = await import("./hardware-port.js");
const { REBOOT_EXIT_CODE, bootBuild } = await import("./build.js");
const { OperationalCredentialsServer } = await import("@matter/main/behaviors/operational-credentials");

/** The first line on stdin (trimmed), or null at end of input. stdin is closed afterwards. */
function startLine() {
    return new Promise(resolve => {
        let buf = "";
        const done = line => {
            process.stdin.off("data", onData);
            process.stdin.off("end", onEnd);
            process.stdin.off("error", onEnd);
            process.stdin.destroy();
            resolve(line);
        };
        const onData = chunk => {
            buf += chunk;
            const nl = buf.indexOf("\n");
            if (nl >= 0) done(buf.slice(0, nl).trim());
        };
        const onEnd = () => done(null);
        process.stdin.setEncoding("utf8");
        process.stdin.on("data", onData);
        process.stdin.once("end", onEnd);
        process.stdin.once("error", onEnd);
    });
}

if (process.env.VEVSE_WAIT_FOR_START === "1") {
    process.stderr.write(`vevse: spare pid ${process.pid} loaded, waiting for "start" on stdin\n`);
    const line = await startLine();
    if (line === null) process.exit(0); // whoever started the spare is gone, or dropped it
    if (line !== "start") {
        process.stderr.write(`vevse: expected "start" on stdin, got ${JSON.stringify(line)}\n`);
        process.exit(2);
    }
    process.stderr.write(`vevse: spare pid ${process.pid} starting\n`);
}
if (shuttingDown) await new Promise(() => {}); // a signal arrived while loading or waiting: shutdown() exits

const store = new Store(cfg.storagePath);
const build = bootBuild(cfg); // a build installed over OTA: its version and defects in place of the configured ones
if (build) process.stderr.write(`vevse: booting the installed build ${build.softwareVersionString} (${build.softwareVersion})\n`);
rt = createRuntime(cfg, store);
rt.reboot = reason => shutdown("reboot", REBOOT_EXIT_CODE).then(() => undefined, () => undefined);
try {
    ({ node } = await createNode(rt));
    if (cfg.hardwarePort) {
        port = new HardwarePort(rt, cfg.hardwarePort);
        await port.listen();
    }
    await node.start();
    rt.tickTimer = setInterval(() => rt.tick().catch(e => process.stderr.write(`vevse: tick ${e?.stack ?? e}\n`)), 1000);
    await rt.scheduleExpiry();
    if (shuttingDown) await new Promise(() => {});
    const commissioned = !!node.state.commissioning.commissioned;
    process.stdout.write(
        `${JSON.stringify({ event: "ready", port: cfg.port, passcode: cfg.passcode, discriminator: cfg.discriminator, commissioned })}\n`,
    );
    rt.ready = true;
    if (!commissioned) {
        // The attestation certificates (a test PAI and DAC, made at their first use) are made now, while the
        // commissioner starts, rather than inside its first certificate chain request.
        node.act("attestation", agent => agent.get(OperationalCredentialsServer).getCertification()).catch(e =>
            process.stderr.write(`vevse: attestation certificates: ${e?.stack ?? e}\n`),
        );
    }
} catch (e) {
    if (shuttingDown) await new Promise(() => {}); // a signal arrived during startup: let shutdown() exit 0
    if (e instanceof ConfigError) {
        // found only once matter.js is loaded (the attestation chain against the product's vendor and product id)
        process.stderr.write(`vevse: ${e.message}\n`);
        process.exit(e.exitCode ?? 2);
    }
    process.stderr.write(`vevse: startup failed: ${e?.stack ?? e}\n`);
    for (const c of e?.errors ?? []) process.stderr.write(`  cause: ${c?.stack ?? c}\n  ${c?.cause?.stack ?? ""}\n`);
    process.exit(1);
}
