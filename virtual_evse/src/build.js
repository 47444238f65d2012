// A "build" of the virtual EVSE: what a firmware image carries as its payload (a JSON object) and what the EVSE
// boots with once it has installed one over Matter OTA (Matter Core specification, section 11.20 OTA Software
// Update): its software version, version string, defects and, optionally, the hardware version (board revision) it
// was built for. The installed build lives in the EVSE's storage (<storagePath>/vevse-build.json, beside the firmware
// store); it outlives a factory reset of the Energy EVSE data, as a firmware does.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadDefects } from "./config.js";

export const BUILD_FORMAT = "rig-virtual-evse-build/1";
export const BUILD_FILE = "vevse-build.json";
/** Exit code of the process after it installed a build and asked to be booted again on the same storage. */
export const REBOOT_EXIT_CODE = 75;
/** Exit code of a build that crashes at start (defect build-does-not-boot): the EVSE never comes up on the network. */
export const BOOT_CRASH_EXIT_CODE = 70;
/** The defect a build carries when it crashes at start; a defect of the build itself, not of the running firmware. */
export const BOOT_CRASH_DEFECT = "build-does-not-boot";

export class BuildError extends Error {}

/**
 * The build a payload (bytes or text) describes, checked: format, version (1..2^32-1), version string, defects and the
 * optional hardwareVersion (the board revision it was built for, 0..65535; absent: any).
 */
export function parseBuild(payload, knownDefects = loadDefects()) {
    let build;
    try {
        build = JSON.parse(typeof payload === "string" ? payload : Buffer.from(payload).toString("utf8"));
    } catch (e) {
        throw new BuildError(`payload: not a JSON build (${e.message})`);
    }
    if (typeof build !== "object" || build === null || Array.isArray(build)) throw new BuildError("payload: not a JSON object");
    if (build.format !== BUILD_FORMAT) throw new BuildError(`payload.format: ${JSON.stringify(build.format)}, expected ${JSON.stringify(BUILD_FORMAT)}`);
    const v = build.softwareVersion;
    if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new BuildError(`payload.softwareVersion: ${JSON.stringify(v)} is not 1..4294967295`);
    const s = build.softwareVersionString;
    if (typeof s !== "string" || s.length < 1 || s.length > 64) throw new BuildError("payload.softwareVersionString: a string of 1..64 characters");
    if (!Array.isArray(build.defects)) throw new BuildError("payload.defects: must be a list");
    for (const d of build.defects) {
        if (!(d in knownDefects)) throw new BuildError(`payload.defects: unknown defect ${JSON.stringify(d)}`);
    }
    const parsed = { format: BUILD_FORMAT, softwareVersion: v, softwareVersionString: s, defects: [...build.defects] };
    const hw = build.hardwareVersion;
    if (hw !== undefined && hw !== null) {
        if (!Number.isInteger(hw) || hw < 0 || hw > 0xffff) throw new BuildError(`payload.hardwareVersion: ${JSON.stringify(hw)} is not 0..65535`);
        parsed.hardwareVersion = hw;
    }
    return parsed;
}

/** The payload bytes of a build, padded with JSON whitespace to `size` bytes when given. */
export function buildPayload(build, size = 0) {
    const text = JSON.stringify(parseBuild(JSON.stringify({ format: BUILD_FORMAT, ...build })));
    const bytes = Buffer.from(text, "utf8");
    if (size <= bytes.length) return bytes;
    return Buffer.concat([bytes, Buffer.alloc(size - bytes.length, 0x20)]);
}

/** The build installed in `storagePath`, or null (none installed, or unreadable: the EVSE boots its configured one). */
export function installedBuild(storagePath) {
    let text;
    try {
        text = readFileSync(join(storagePath, BUILD_FILE), "utf8");
    } catch {
        return null;
    }
    try {
        return parseBuild(text);
    } catch (e) {
        process.stderr.write(`vevse: installed build ignored: ${e.message}\n`);
        return null;
    }
}

/** Write a build into `storagePath` (atomically: a reboot in the middle leaves the old one or the new one). */
export function installBuild(storagePath, build) {
    const file = join(storagePath, BUILD_FILE);
    writeFileSync(`${file}.tmp`, JSON.stringify(build));
    renameSync(`${file}.tmp`, file);
}

/**
 * The config with the installed build's version, version string and defects in place of the configured ones; the
 * installed build (or null: the configured one runs). A build with the defect build-does-not-boot crashes here, before
 * the Matter stack is up: the process exits with BOOT_CRASH_EXIT_CODE and the EVSE never appears on the network, as a
 * firmware without a fallback to its previous build would.
 */
export function bootBuild(cfg) {
    const build = installedBuild(cfg.storagePath); // its defects checked against this firmware's
    if (build !== null) {
        const defects = build.defects;
        cfg.softwareVersion = build.softwareVersion;
        cfg.softwareVersionString = build.softwareVersionString;
        cfg.defects = defects;
        cfg.defectSet = new Set(defects);
    }
    if (cfg.defectSet?.has(BOOT_CRASH_DEFECT)) {
        process.stderr.write(
            `vevse: build ${cfg.softwareVersionString} (${cfg.softwareVersion}) crashed at start (defect ${BOOT_CRASH_DEFECT}); exit ${BOOT_CRASH_EXIT_CODE}\n`,
        );
        process.exit(BOOT_CRASH_EXIT_CODE);
    }
    return build;
}
