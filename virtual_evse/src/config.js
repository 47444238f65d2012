// Configuration loading for the virtual EVSE (VEVSE_CONFIG JSON file only; matter.js parses argv itself).
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
};

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
    cfg.has = f => cfg.features.includes(f);
    return cfg;
}
