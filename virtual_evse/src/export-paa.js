#!/usr/bin/env node
// Writes the matter.js test PAA certificates (DER) that sign the device attestation chain into <dir>.
// The "Matter Test PAA" without VID is the one matter.js uses (AttestationCertificateManager); the FFF1 test PAA is
// written too so that a trust store built from this folder also accepts devices from the CHIP SDK test vendor.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Console } from "node:console";

globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
const dir = process.argv[2];
if (!dir) {
    process.stderr.write("usage: node src/export-paa.js <dir>\n");
    process.exit(2);
}
const { TestCert_PAA_NoVID_Cert, TestCert_PAA_FFF1_Cert } = await import("@matter/main/protocol");
const out = resolve(dir);
mkdirSync(out, { recursive: true });
const files = {
    "Chip-Test-PAA-NoVID-Cert.der": TestCert_PAA_NoVID_Cert,
    "Chip-Test-PAA-FFF1-Cert.der": TestCert_PAA_FFF1_Cert,
};
for (const [name, der] of Object.entries(files)) {
    if (der) writeFileSync(join(out, name), Buffer.from(der));
}
process.stdout.write(`${JSON.stringify({ event: "paa_exported", dir: out, files: Object.keys(files) })}\n`);
