#!/usr/bin/env node
// Virtual EVSE process entry point. Configuration: VEVSE_CONFIG=/path/to/config.json (see README.md).
// stdout carries JSON lines only (first the "ready" line); matter.js logs go to stderr.
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

async function shutdown(signal) {
    if (shuttingDown) return;
    shuttingDown = true;
    const force = setTimeout(() => process.exit(0), 1800); // matter.js shutdown can take >10 s with a session open
    try {
        rt?.log({ event: "shutdown", signal });
        if (rt) clearInterval(rt.tickTimer);
        await Promise.all([port?.close(), node?.close()]);
    } catch (e) {
        process.stderr.write(`vevse: shutdown error ${e?.stack ?? e}\n`);
    }
    process.exit(0);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

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

const store = new Store(cfg.storagePath);
rt = createRuntime(cfg, store);
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
} catch (e) {
    if (shuttingDown) await new Promise(() => {}); // a signal arrived during startup: let shutdown() exit 0
    process.stderr.write(`vevse: startup failed: ${e?.stack ?? e}\n`);
    for (const c of e?.errors ?? []) process.stderr.write(`  cause: ${c?.stack ?? c}\n  ${c?.cause?.stack ?? ""}\n`);
    process.exit(1);
}
