#!/usr/bin/env node
// Make (or read) a Matter OTA image file (Matter Core specification, section 11.20.2 OTA Software Update File
// Format) with matter.js's OtaImageWriter / OtaImageReader. The payload is a virtual EVSE build (src/build.js).
//
//   node src/build-image.js make  SPEC.json OUT.ota   SPEC: {vendorId, productId, softwareVersion,
//                                                     softwareVersionString, defects, payloadSize?,
//                                                     hardwareVersion? (the board revision the build is for),
//                                                     minApplicableSoftwareVersion?, maxApplicableSoftwareVersion?}
//   node src/build-image.js read  IMAGE.ota            the header and the build, checked (digest included), as JSON
//
// One JSON line on stdout; a refused spec or image: its reason on stderr, exit 2.
import { Console } from "node:console";
import { readFileSync, writeFileSync } from "node:fs";

globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
process.env.MATTER_LOG_LEVEL = process.env.MATTER_LOG_LEVEL ?? "error";

const { Crypto, Environment } = await import("@matter/main");
const { OtaImageReader, OtaImageWriter } = await import("@matter/main/protocol");
const { BuildError, buildPayload, parseBuild } = await import("./build.js");

const json = value => JSON.stringify(value, (k, v) => (typeof v === "bigint" ? Number(v) : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));

async function make(specPath, out) {
    const spec = JSON.parse(readFileSync(specPath, "utf8"));
    const crypto = Environment.default.get(Crypto);
    const build = { softwareVersion: spec.softwareVersion, softwareVersionString: spec.softwareVersionString, defects: spec.defects ?? [] };
    if (spec.hardwareVersion !== undefined && spec.hardwareVersion !== null) build.hardwareVersion = spec.hardwareVersion;
    const payload = buildPayload(build, spec.payloadSize ?? 0);
    const options = {
        vendorId: spec.vendorId,
        productId: spec.productId,
        softwareVersion: spec.softwareVersion,
        softwareVersionString: spec.softwareVersionString,
        payload,
    };
    for (const k of ["minApplicableSoftwareVersion", "maxApplicableSoftwareVersion", "releaseNotesUrl"]) {
        if (spec[k] !== undefined && spec[k] !== null) options[k] = spec[k];
    }
    const { image, fullFileChecksum, fullFileChecksumType } = await OtaImageWriter.create(crypto, options);
    writeFileSync(out, image);
    process.stdout.write(`${json({ file: out, size: image.length, payloadSize: payload.length, fullFileChecksum, fullFileChecksumType })}\n`);
}

async function read(path) {
    const crypto = Environment.default.get(Crypto);
    const data = readFileSync(path);
    const header = await OtaImageReader.file(new Blob([data]).stream().getReader(), crypto, data.length);
    const chunks = [];
    await OtaImageReader.extractPayload(
        new Blob([data]).stream().getReader(),
        new WritableStream({ write: chunk => void chunks.push(Buffer.from(chunk)) }).getWriter(),
        crypto,
        data.length,
    );
    const build = parseBuild(Buffer.concat(chunks));
    process.stdout.write(`${json({ header, build })}\n`);
}

const [cmd, ...args] = process.argv.slice(2);
try {
    if (cmd === "make" && args.length === 2) await make(args[0], args[1]);
    else if (cmd === "read" && args.length === 1) await read(args[0]);
    else {
        process.stderr.write("usage: build-image.js make SPEC.json OUT.ota | read IMAGE.ota\n");
        process.exit(2);
    }
} catch (e) {
    process.stderr.write(`build-image: ${e instanceof BuildError ? "" : `${e?.constructor?.name ?? "error"}: `}${e?.message ?? e}\n`);
    process.exit(2);
}
