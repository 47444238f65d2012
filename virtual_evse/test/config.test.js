// Configuration checks of the node-operational-credentials options: supportedFabrics and the custom attestation
// chain (certification). The chain is a matter.js test chain written to files as a manufacturer would hand them
// over (PKCS #8 DER key, DER certificates); the node is built but not started (no network).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Console } from "node:console";

globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
const dir = mkdtempSync(join(tmpdir(), "vevse-config-"));
process.env.MATTER_LOG_LEVEL = "error";
process.env.MATTER_STORAGE_PATH = join(dir, "matter");

const { ConfigError, loadConfig } = await import("../src/config.js");
const { Store } = await import("../src/store.js");
const { createRuntime } = await import("../src/runtime.js");
const { createNode } = await import("../src/device.js");
const { Crypto, Environment, VendorId } = await import("@matter/main");
const { AttestationCertificateManager } = await import("@matter/main/protocol");
const { OperationalCredentialsServer } = await import("@matter/main/behaviors/operational-credentials");

const nodes = [];
after(async () => {
    for (const n of nodes) await n.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function config(extra) {
    const path = join(dir, `config-${seq++}.json`);
    writeFileSync(path, JSON.stringify({ storagePath: join(dir, "storage"), ...extra }));
    return path;
}

function rejects(extra, pattern) {
    assert.throws(() => loadConfig(config(extra)), e => e instanceof ConfigError && pattern.test(e.message));
}

/** A matter.js-made chain for 0xFFF1/0x8000 in files: dac-key.der (PKCS #8), dac.der, pai.der; the raw key too. */
async function chainFiles() {
    const manager = await AttestationCertificateManager.create(Environment.default.get(Crypto), VendorId(0xfff1));
    const { keyPair, dac } = await manager.getDACert(0x8000);
    const key = createPrivateKey({ key: { kty: "EC", crv: "P-256", d: keyPair.d, x: keyPair.x, y: keyPair.y }, format: "jwk" });
    const files = { privateKey: join(dir, "dac-key.der"), certificate: join(dir, "dac.der"), intermediateCertificate: join(dir, "pai.der") };
    writeFileSync(files.privateKey, key.export({ format: "der", type: "pkcs8" }));
    writeFileSync(files.certificate, dac);
    writeFileSync(files.intermediateCertificate, await manager.getPAICert());
    return { files, key, dac, rawKey: Buffer.from(keyPair.d, "base64url") };
}
const chain = await chainFiles();

test("supportedFabrics: absent leaves matter.js's default; 5..254 integers only", () => {
    assert.equal(loadConfig(config({})).supportedFabrics, undefined);
    assert.equal(loadConfig(config({ supportedFabrics: null })).supportedFabrics, undefined);
    assert.equal(loadConfig(config({ supportedFabrics: 5 })).supportedFabrics, 5);
    assert.equal(loadConfig(config({ supportedFabrics: 254 })).supportedFabrics, 254);
    for (const bad of [4, 255, 5.5, "5", 0, true]) rejects({ supportedFabrics: bad }, /supportedFabrics must be an integer 5\.\.254/);
});

test("certification: the files are read and checked, the key handed on as its raw scalar", () => {
    const cfg = loadConfig(config({ certification: chain.files }));
    assert.deepEqual(Buffer.from(cfg.certificationFiles.privateKey), chain.rawKey);
    assert.deepEqual(Buffer.from(cfg.certificationFiles.certificate), Buffer.from(chain.dac));
    assert.equal(loadConfig(config({})).certificationFiles, undefined);
    // PEM keys (PKCS #8 and SEC 1) are accepted too
    for (const type of ["pkcs8", "sec1"]) {
        const pem = join(dir, `dac-key-${type}.pem`);
        writeFileSync(pem, chain.key.export({ format: "pem", type }));
        const withPem = loadConfig(config({ certification: { ...chain.files, privateKey: pem } }));
        assert.deepEqual(Buffer.from(withPem.certificationFiles.privateKey), chain.rawKey);
    }
});

test("certification: a missing or unreadable file is named", () => {
    const missing = join(dir, "nowhere", "dac.der");
    rejects({ certification: { ...chain.files, certificate: missing } }, new RegExp(`certification\\.certificate: cannot read ${missing}`));
    rejects({ certification: { ...chain.files, privateKey: dir } }, new RegExp(`certification\\.privateKey: cannot read ${dir}`));
    const notKey = join(dir, "not-a-key.der");
    writeFileSync(notKey, "garbage");
    rejects({ certification: { ...chain.files, privateKey: notKey } }, new RegExp(`${notKey} is not a private key`));
    rejects({ certification: { ...chain.files, intermediateCertificate: notKey } }, new RegExp(`${notKey} is not an X.509 certificate`));
});

test("certification: wrong shape, key of another certificate, DAC not signed by the PAI", () => {
    rejects({ certification: "chain" }, /certification must be an object/);
    rejects({ certification: { ...chain.files, declaration: "cd.der" } }, /unknown key "declaration"/);
    rejects({ certification: { certificate: chain.files.certificate, intermediateCertificate: chain.files.intermediateCertificate } }, /certification\.privateKey must be a file path/);
    rejects({ certification: { ...chain.files, certificate: chain.files.intermediateCertificate } }, /does not hold the public key of/);
    rejects({ certification: { ...chain.files, intermediateCertificate: chain.files.certificate } }, /is not signed by the PAI/);
});

test("the node carries the fabric limit and the custom chain; a DAC for another product is refused", async () => {
    const cfg = loadConfig(config({ supportedFabrics: 5, certification: chain.files, storagePath: join(dir, "node-storage") }));
    const rt = createRuntime(cfg, new Store(cfg.storagePath));
    const { node } = await createNode(rt, "vevse-config-test");
    nodes.push(node);
    assert.equal(node.state.operationalCredentials.supportedFabrics, 5);
    const certification = await node.act(agent => agent.get(OperationalCredentialsServer).getCertification());
    assert.deepEqual(Buffer.from(certification.certificate), Buffer.from(chain.dac));
    assert.ok(certification.declaration.byteLength > 0);

    const other = loadConfig(config({ productId: 0x8001, certification: chain.files, storagePath: join(dir, "other-storage") }));
    await assert.rejects(
        createNode(createRuntime(other, new Store(other.storagePath)), "vevse-config-other"),
        e => e instanceof ConfigError && /DAC ProductID 32768 does not match product ProductID 32769/.test(e.message),
    );
});
