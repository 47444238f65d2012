#!/usr/bin/env node
// The virtual bench's stand-in for a vendor's flashing tool, the part that writes the board's flash: the build (the
// payload of a virtual EVSE OTA image, src/build.js) checked and written into the EVSE's storage with installBuild, the
// same function the EVSE's OTA requestor uses. Run by `rig sim flash` (rig/sim/flasher.py) while the EVSE is powered
// off; the EVSE boots the build at its next power-on.
//
//   node src/flash.js STORAGE_PATH EXPECTED_SOFTWARE_VERSION < PAYLOAD
//
// One JSON line on stdout (the build written); a payload that is not a build of this firmware, or whose version is
// not the one expected (the image header's): its reason on stderr, exit 2.
import { mkdirSync, readFileSync } from "node:fs";
import { BuildError, installBuild, parseBuild } from "./build.js";

const [storagePath, expected] = process.argv.slice(2);
if (!storagePath || !expected) {
    process.stderr.write("usage: node src/flash.js STORAGE_PATH EXPECTED_SOFTWARE_VERSION < PAYLOAD\n");
    process.exit(2);
}
try {
    const build = parseBuild(readFileSync(0));
    if (String(build.softwareVersion) !== expected) {
        throw new BuildError(`payload.softwareVersion ${build.softwareVersion} differs from the header's ${expected}`);
    }
    mkdirSync(storagePath, { recursive: true });
    installBuild(storagePath, build);
    process.stdout.write(`${JSON.stringify({ event: "flashed", ...build })}\n`);
} catch (e) {
    if (!(e instanceof BuildError)) throw e;
    process.stderr.write(`flash: ${e.message}\n`);
    process.exit(2);
}
