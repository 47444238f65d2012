// Persistent firmware store (<storagePath>/vevse-state.json): the source of truth for every non-volatile EVSE value.
// matter.js also persists attribute values itself; at boot the EVSE server overwrites all attributes from this file
// (non-volatile) or resets them (volatile), so both always agree.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PERSISTED_DEFAULTS = {
    chargingEnabledUntil: 946684800, // Unix seconds or null; 946684800 = wire value 0 (spec default, disabled)
    dischargingEnabledUntil: 946684800,
    circuitCapacity: undefined, // filled from config.hardware.circuitCapacity on first boot
    minimumChargeCurrent: 6000,
    commandMaxCharge: 0, // EnableCharging.MaximumChargeCurrent (0 until the first EnableCharging)
    commandMaxDischarge: 0,
    userMaximumChargeCurrent: undefined, // defaults to CircuitCapacity (spec SHOULD)
    randomizationDelayWindow: 600,
    approximateEvEfficiency: null,
    sessionId: null,
    sessionDuration: null,
    sessionEnergyCharged: null,
    sessionEnergyDischarged: null,
    targets: [], // [{dayOfWeekForSequence: number, chargingTargets: [{targetTimeMinutesPastMidnight, targetSoC?, addedEnergy?}]}]
};

export class Store {
    constructor(dir) {
        this.dir = dir;
        this.file = join(dir, "vevse-state.json");
        mkdirSync(dir, { recursive: true });
        let data = {};
        try {
            data = JSON.parse(readFileSync(this.file, "utf8"));
        } catch {
            data = {};
        }
        this.fresh = Object.keys(data).length === 0;
        this.data = { ...PERSISTED_DEFAULTS, ...data };
    }

    set(patch) {
        let changed = false;
        for (const [k, v] of Object.entries(patch)) {
            if (JSON.stringify(this.data[k]) !== JSON.stringify(v)) {
                this.data[k] = v;
                changed = true;
            }
        }
        if (changed) this.flush();
    }

    flush() {
        const tmp = `${this.file}.tmp`;
        writeFileSync(tmp, JSON.stringify(this.data, null, 1));
        renameSync(tmp, this.file);
    }
}
