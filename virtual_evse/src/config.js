// Configuration loading for the virtual EVSE (VEVSE_CONFIG JSON file only; matter.js parses argv itself).
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const DEFECTS_FILE = join(here, "..", "defects.json");

export const DEFAULT_FEATURES = ["PREF", "SOC", "PNC", "RFID", "V2X"];
export const FEATURE_NAMES = {
    PREF: "ChargingPreferences",
    SOC: "SoCReporting",
    PNC: "PlugAndCharge",
    RFID: "Rfid",
    V2X: "V2X",
};

const DEFAULTS = {
    storagePath: "./.vevse-storage",
    port: 5540,
    passcode: 20202021,
    discriminator: 3840,
    vendorId: 0xfff1,
    productId: 0x8000,
    vendorName: "rig",
    productName: "Virtual EVSE",
    serialNumber: "VEVSE-0001",
    softwareVersion: 1,
    softwareVersionString: "1.0.0",
    hardwareVersion: 1,
    hardwareVersionString: "1.0",
    interface: undefined,
    features: DEFAULT_FEATURES,
    optional: {
        userMaximumChargeCurrent: true,
        randomizationDelayWindow: true,
        approximateEvEfficiency: true,
        startDiagnostics: true,
    },
    enableKey: "000102030405060708090a0b0c0d0e0f",
    defects: [],
    hardwarePort: null,
    hardware: {
        maxHardwareChargeCurrent: 32000,
        maxHardwareDischargeCurrent: 32000,
        nominalMainsVoltage_mV: 230000,
        contactorDelayMs: 200,
        pwmStartDelayMs: 100,
        contactorOpenDelayMs: 20,
        circuitCapacity: undefined, // defaults to maxHardwareChargeCurrent (installation setting, first boot only)
    },
    logLevel: "notice",
    supportedFabrics: undefined, // matter.js's default (254) when absent
    certification: undefined, // the matter.js test chain when absent
};

/** SupportedFabrics bounds (Matter core specification, Node Operational Credentials cluster: constraint 5 to 254). */
export const SUPPORTED_FABRICS_MIN = 5;
export const SUPPORTED_FABRICS_MAX = 254;
const CERTIFICATION_FILES = ["privateKey", "certificate", "intermediateCertificate"];

export class ConfigError extends Error {}

export function loadDefects() {
    return JSON.parse(readFileSync(DEFECTS_FILE, "utf8"));
}

export function loadConfig(path = process.env.VEVSE_CONFIG) {
    let raw = {};
    if (path) {
        try {
            raw = JSON.parse(readFileSync(path, "utf8"));
        } catch (e) {
            throw new ConfigError(`cannot read VEVSE_CONFIG ${path}: ${e.message}`);
        }
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw new ConfigError("config must be a JSON object");
    }
    const cfg = { ...DEFAULTS, ...raw };
    cfg.optional = { ...DEFAULTS.optional, ...(raw.optional ?? {}) };
    // accept both spellings of the flag (approximateEvEfficiency / approximateEVEfficiency, as the attribute is named)
    if (raw.optional && "approximateEVEfficiency" in raw.optional) {
        cfg.optional.approximateEvEfficiency = !!raw.optional.approximateEVEfficiency;
    }
    cfg.hardware = { ...DEFAULTS.hardware, ...(raw.hardware ?? {}) };
    if (cfg.hardware.circuitCapacity === undefined) cfg.hardware.circuitCapacity = cfg.hardware.maxHardwareChargeCurrent;
    cfg.storagePath = resolve(cfg.storagePath);

    if (!Array.isArray(cfg.features)) throw new ConfigError("features must be a list");
    for (const f of cfg.features) {
        if (!(f in FEATURE_NAMES)) {
            throw new ConfigError(`unknown feature "${f}"; valid: ${Object.keys(FEATURE_NAMES).join(", ")}`);
        }
    }
    if (!cfg.features.includes("PREF")) {
        // PREF is mandatory in revision 3; allow disabling it anyway for negative testing
    }
    const key = String(cfg.enableKey);
    if (!/^[0-9a-fA-F]{32}$/.test(key)) throw new ConfigError("enableKey must be 32 hex digits (16 bytes)");
    cfg.enableKeyBytes = Uint8Array.from(Buffer.from(key, "hex"));
    if (cfg.enableKeyBytes.every(b => b === 0)) throw new ConfigError("enableKey must not be all zeros (test event triggers would be unusable)");

    const known = loadDefects();
    if (!Array.isArray(cfg.defects)) throw new ConfigError("defects must be a list");
    for (const d of cfg.defects) {
        if (!(d in known)) {
            const err = new ConfigError(
                `unknown defect "${d}"; valid defects: ${Object.keys(known).join(", ")}`,
            );
            err.exitCode = 2;
            throw err;
        }
    }
    cfg.defectSet = new Set(cfg.defects);

    if (cfg.supportedFabrics === null) cfg.supportedFabrics = undefined; // null = absent, as for certification
    const fabrics = cfg.supportedFabrics;
    if (fabrics !== undefined && !(Number.isInteger(fabrics) && fabrics >= SUPPORTED_FABRICS_MIN && fabrics <= SUPPORTED_FABRICS_MAX)) {
        throw new ConfigError(
            `supportedFabrics must be an integer ${SUPPORTED_FABRICS_MIN}..${SUPPORTED_FABRICS_MAX}, got ${JSON.stringify(fabrics)}`,
        );
    }
    if (cfg.certification !== undefined && cfg.certification !== null) {
        cfg.certificationFiles = loadCertification(cfg.certification);
    }
    cfg.has = f => cfg.features.includes(f);
    return cfg;
}

function readCertificationFile(what, path) {
    try {
        return readFileSync(path);
    } catch (e) {
        throw new ConfigError(`certification.${what}: cannot read ${path}: ${e.message}`);
    }
}

/** The raw 32-byte P-256 private key of a PKCS #8 or SEC 1 key, DER or PEM. */
function rawPrivateKey(path, data) {
    const pem = data.includes("-----BEGIN");
    const forms = pem ? [{ format: "pem" }] : [{ format: "der", type: "pkcs8" }, { format: "der", type: "sec1" }];
    for (const form of forms) {
        let key;
        try {
            key = createPrivateKey({ key: data, ...form });
        } catch {
            continue;
        }
        const jwk = key.export({ format: "jwk" });
        if (jwk.kty !== "EC" || jwk.crv !== "P-256") {
            throw new ConfigError(`certification.privateKey: ${path} is not a P-256 EC key (a DAC key is ECDSA P-256)`);
        }
        return { raw: Buffer.from(jwk.d, "base64url"), jwk };
    }
    throw new ConfigError(`certification.privateKey: ${path} is not a private key (PKCS #8 or SEC 1, DER or PEM)`);
}

function certificate(what, path, data) {
    try {
        return new X509Certificate(data);
    } catch (e) {
        throw new ConfigError(`certification.${what}: ${path} is not an X.509 certificate: ${e.message}`);
    }
}

/**
 * Read and check the custom attestation chain: the DAC key (PKCS #8 or SEC 1, DER or PEM), the DAC and the PAI
 * (DER, as sent in the CertificateChainResponse). The DAC must hold the key's public key and be signed by the PAI.
 * Returns `{privateKey, certificate, intermediateCertificate}` as bytes (the key as its raw 32-byte scalar).
 */
export function loadCertification(spec) {
    if (typeof spec !== "object" || Array.isArray(spec)) {
        throw new ConfigError(`certification must be an object with ${CERTIFICATION_FILES.join(", ")} (file paths)`);
    }
    for (const key of Object.keys(spec)) {
        if (!CERTIFICATION_FILES.includes(key)) {
            throw new ConfigError(`certification: unknown key "${key}"; valid: ${CERTIFICATION_FILES.join(", ")}`);
        }
    }
    const paths = {};
    for (const key of CERTIFICATION_FILES) {
        if (typeof spec[key] !== "string" || spec[key] === "") {
            throw new ConfigError(`certification.${key} must be a file path`);
        }
        paths[key] = resolve(spec[key]);
    }
    const keyData = readCertificationFile("privateKey", paths.privateKey);
    const dacData = readCertificationFile("certificate", paths.certificate);
    const paiData = readCertificationFile("intermediateCertificate", paths.intermediateCertificate);
    const { raw, jwk } = rawPrivateKey(paths.privateKey, keyData);
    if (dacData.includes("-----BEGIN") || paiData.includes("-----BEGIN")) {
        throw new ConfigError("certification: the DAC and the PAI must be DER files (as a device sends them), not PEM");
    }
    const dac = certificate("certificate", paths.certificate, dacData);
    const pai = certificate("intermediateCertificate", paths.intermediateCertificate, paiData);
    const dacKey = dac.publicKey.export({ format: "jwk" });
    if (dacKey.x !== jwk.x || dacKey.y !== jwk.y) {
        throw new ConfigError(`certification: the DAC ${paths.certificate} does not hold the public key of ${paths.privateKey}`);
    }
    if (!dac.checkIssued(pai) || !dac.verify(pai.publicKey)) {
        throw new ConfigError(`certification: the DAC ${paths.certificate} is not signed by the PAI ${paths.intermediateCertificate}`);
    }
    return { privateKey: Uint8Array.from(raw), certificate: Uint8Array.from(dacData), intermediateCertificate: Uint8Array.from(paiData) };
}
