// Charging preferences (PREF): SetTargets validation, merge semantics and the NextCharge* computation.
import { Status, StatusResponseError } from "@matter/main/types";

export const MAX_TARGETS_PER_DAY = 10;
export const MAX_SCHEDULES = 7;
const HUGE_ENERGY = Number.MAX_SAFE_INTEGER;

function fail(status, msg) {
    throw new StatusResponseError(msg, status);
}

/** Plain, JSON-safe copy of a schedule list as received from matter.js (bigint → number, absent fields dropped). */
export function normalizeSchedules(list) {
    return (list ?? []).map(s => ({
        dayOfWeekForSequence: bitmapToNumber(s.dayOfWeekForSequence),
        chargingTargets: (s.chargingTargets ?? []).map(t => {
            const o = { targetTimeMinutesPastMidnight: Number(t.targetTimeMinutesPastMidnight) };
            if (t.targetSoC !== undefined && t.targetSoC !== null) o.targetSoC = Number(t.targetSoC);
            if (t.addedEnergy !== undefined && t.addedEnergy !== null) o.addedEnergy = Number(t.addedEnergy);
            return o;
        }),
    }));
}

const DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

export function bitmapToNumber(b) {
    if (typeof b === "number") return b;
    if (b === undefined || b === null) return 0;
    let n = 0;
    DAY_NAMES.forEach((name, i) => {
        if (b[name]) n |= 1 << i;
    });
    return n;
}

export function numberToBitmap(n) {
    const o = {};
    DAY_NAMES.forEach((name, i) => {
        o[name] = !!(n & (1 << i));
    });
    return o;
}

/** For GetTargetsResponse: stored form → matter.js form. */
export function toWire(schedules) {
    return schedules.map(s => ({
        dayOfWeekForSequence: numberToBitmap(s.dayOfWeekForSequence),
        chargingTargets: s.chargingTargets.map(t => ({ ...t })),
    }));
}

/**
 * Validate a SetTargets request (already normalized). Throws StatusResponseError; nothing is stored on error.
 * Order of checks follows the SDK's code-driven EnergyEvseCluster.
 */
export function validateSchedules(schedules, { soc }) {
    if (schedules.length > MAX_SCHEDULES) fail(Status.ConstraintError, "more than 7 schedules");
    let seen = 0;
    for (const s of schedules) {
        const days = s.dayOfWeekForSequence;
        if (days === 0 || days > 0x7f) fail(Status.ConstraintError, "DayOfWeekForSequence must name at least one day");
        if (seen & days) fail(Status.ConstraintError, "a day of week appears in more than one schedule");
        seen |= days;
        if (s.chargingTargets.length > MAX_TARGETS_PER_DAY) {
            fail(Status.ResourceExhausted, `more than ${MAX_TARGETS_PER_DAY} targets in a schedule`);
        }
        for (const t of s.chargingTargets) {
            if (t.targetTimeMinutesPastMidnight > 1439) fail(Status.ConstraintError, "TargetTimeMinutesPastMidnight > 1439");
            if (soc) {
                if (t.targetSoC === undefined) fail(Status.InvalidCommand, "TargetSoC is mandatory with SOC feature");
                if (t.targetSoC > 100) fail(Status.ConstraintError, "TargetSoC > 100");
            } else if (t.targetSoC !== undefined && t.targetSoC !== 100) {
                fail(Status.ConstraintError, "without SOC only TargetSoC 100 is allowed");
            }
            if (t.addedEnergy !== undefined && t.addedEnergy < 0) fail(Status.ConstraintError, "AddedEnergy < 0");
            if (t.targetSoC === undefined && t.addedEnergy === undefined) {
                fail(Status.Failure, "neither TargetSoC nor AddedEnergy");
            }
        }
    }
}

/**
 * Merge: every new schedule replaces the days it names. Existing entries lose those day bits and keep their targets
 * (dropped when no bit remains); result = reduced existing entries (original order) followed by the new ones.
 */
export function mergeSchedules(existing, incoming) {
    let covered = 0;
    for (const s of incoming) covered |= s.dayOfWeekForSequence;
    const reduced = [];
    for (const s of existing) {
        const days = s.dayOfWeekForSequence & ~covered;
        if (days) reduced.push({ ...s, dayOfWeekForSequence: days });
    }
    return [...reduced, ...incoming.filter(s => s.dayOfWeekForSequence !== 0)];
}

/**
 * NextCharge* computation (as the SDK's EVSEManufacturerImpl). Returns the four attribute values (epoch values in Unix seconds, matter.js
 * converts to the Matter epoch on the wire).
 */
export function computeNextCharge({ schedules, pluggedIn, supplyState, maxChargeCurrent, mainsMv, soc, socFeature, batteryCapacity, nowMs = Date.now() }) {
    const none = { nextChargeStartTime: null, nextChargeTargetTime: null, nextChargeRequiredEnergy: null, nextChargeTargetSoC: null };
    if (!pluggedIn || supplyState !== 1 /* ChargingEnabled */) return none;
    const now = new Date(nowMs);
    const nowSec = Math.floor(nowMs / 1000);
    let found;
    for (let day = 0; day < 8 && !found; day++) {
        const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + day);
        const bit = 1 << d.getDay();
        const candidates = [];
        for (const s of schedules) {
            if (!(s.dayOfWeekForSequence & bit)) continue;
            for (const t of s.chargingTargets) {
                const m = t.targetTimeMinutesPastMidnight;
                const at = new Date(d.getFullYear(), d.getMonth(), d.getDate(), Math.floor(m / 60), m % 60, 0, 0);
                if (at.getTime() > nowMs) candidates.push({ t, at: Math.floor(at.getTime() / 1000) });
            }
        }
        candidates.sort((a, b) => a.at - b.at);
        found = candidates[0];
    }
    if (!found) return none;
    const { t, at } = found;
    let energy;
    let requiredEnergy = null;
    let targetSoC = null;
    if (t.targetSoC !== undefined && socFeature) {
        if (soc !== null && soc !== undefined && batteryCapacity !== null && batteryCapacity !== undefined) {
            energy = Math.max(0, ((t.targetSoC - soc) * batteryCapacity) / 100);
            targetSoC = t.targetSoC;
        } else if (t.addedEnergy !== undefined) {
            energy = t.addedEnergy;
            requiredEnergy = t.addedEnergy;
        } else {
            energy = HUGE_ENERGY;
            targetSoC = t.targetSoC;
        }
    } else if (t.targetSoC !== undefined) {
        // SoC not obtainable without the SOC feature: TargetSoC (100) means "charge fully", i.e. now
        energy = HUGE_ENERGY;
        targetSoC = t.targetSoC;
    } else if (t.addedEnergy !== undefined) {
        energy = t.addedEnergy;
        requiredEnergy = t.addedEnergy;
    } else {
        energy = HUGE_ENERGY;
    }
    let start;
    if (energy <= 0) {
        start = null;
    } else {
        const powerW = (mainsMv / 1000) * (maxChargeCurrent / 1000);
        if (energy === HUGE_ENERGY || powerW <= 0) {
            start = nowSec;
        } else {
            const durationS = (energy / 1000 / powerW) * 3600 + 15 * 60;
            start = Math.max(nowSec, Math.floor(at - durationS));
        }
    }
    return { nextChargeStartTime: start, nextChargeTargetTime: at, nextChargeRequiredEnergy: requiredEnergy, nextChargeTargetSoC: targetSoC };
}
