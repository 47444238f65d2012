// Test event triggers (GeneralDiagnostics.TestEventTrigger) of the Energy EVSE (codes of the SDK's EnergyEvseTestEventTriggerHandler.h).
import { Status, StatusResponseError } from "@matter/main/types";
import { Flt, HW } from "./evse-server.js";

export const TRIGGERS = {
    0x0099000000000000n: "basic",
    0x0099000000000001n: "basic_clear",
    0x0099000000000002n: "pluggedin",
    0x0099000000000003n: "pluggedin_clear",
    0x0099000000000004n: "charge_demand",
    0x0099000000000005n: "charge_demand_clear",
    0x0099000000000006n: "time_of_use_mode",
    0x0099000000000021n: "time_of_use_mode_clear",
    0x0099000000000010n: "evse_ground_fault",
    0x0099000000000011n: "evse_over_temperature_fault",
    0x0099000000000012n: "evse_fault_clear",
    0x0099000000000020n: "evse_diagnostics_complete",
    0x0099000000000030n: "evse_set_soc_low",
    0x0099000000000031n: "evse_set_soc_high",
    0x0099000000000032n: "evse_set_soc_clear",
    0x0099000000000040n: "evse_set_vehicleid",
    0x0099000000000050n: "evse_trigger_rfid",
};

export const VEHICLE_ID = "Test-Vehicle-ID-012345789-ABCDEF";
export const RFID_UID = Uint8Array.from([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99]);

/**
 * Resolve a trigger code to its name. Accepts the legacy form (endpoint bits 32-47 = 0) and the form carrying the
 * EVSE endpoint (1) in bits 32-47. Anything else → undefined.
 */
export function resolveTrigger(code, evseEndpoint = 1) {
    const c = BigInt(code);
    const ep = (c >> 32n) & 0xffffn;
    if (ep !== 0n && ep !== BigInt(evseEndpoint)) return undefined;
    const base = c & ~(0xffffn << 32n);
    return TRIGGERS[base];
}

/** Executes a trigger inside an EVSE transaction. `evse` is the EVSE behavior, `rt` the firmware runtime. */
export function applyTrigger(name, evse, rt, agent) {
    const fw = rt.fw;
    const s = evse.state;
    const cfg = rt.cfg;
    rt.lastSource = "trigger";
    switch (name) {
        case "basic":
            fw.savedBasic = {
                hwMaxCharge: fw.hwMaxCharge,
                hwMaxDischarge: fw.hwMaxDischarge,
                circuitCapacity: s.circuitCapacity,
                userMax: s.userMaximumChargeCurrent,
                hwState: fw.hwState,
            };
            fw.hwMaxCharge = 32000;
            fw.hwMaxDischarge = 32000;
            if (s.userMaximumChargeCurrent !== undefined) s.userMaximumChargeCurrent = 32000;
            evse.setCircuitCapacity(32000);
            evse.hwSetState(HW.NotPluggedIn);
            break;
        case "basic_clear": {
            const b = fw.savedBasic;
            if (!b) break;
            fw.savedBasic = null;
            fw.hwMaxCharge = b.hwMaxCharge;
            fw.hwMaxDischarge = b.hwMaxDischarge;
            if (b.userMax !== undefined) s.userMaximumChargeCurrent = b.userMax;
            evse.setCircuitCapacity(b.circuitCapacity);
            evse.hwSetState(b.hwState);
            break;
        }
        case "pluggedin":
            fw.savedPlug = { cableLimit: fw.cableLimit, hwState: fw.hwState };
            evse.hwSetCableLimit(63000);
            evse.hwSetState(HW.PluggedInNoDemand);
            break;
        case "pluggedin_clear": {
            const p = fw.savedPlug;
            fw.savedPlug = null;
            evse.hwSetCableLimit(p ? p.cableLimit : null);
            evse.hwSetState(p && p.hwState !== HW.PluggedInNoDemand && p.hwState !== HW.PluggedInDemand ? p.hwState : HW.NotPluggedIn);
            break;
        }
        case "charge_demand":
            fw.savedDemand = fw.hwState;
            evse.hwSetState(HW.PluggedInDemand);
            break;
        case "charge_demand_clear":
            if (fw.hwState === HW.PluggedInDemand) evse.hwSetState(HW.PluggedInNoDemand);
            fw.savedDemand = null;
            break;
        case "time_of_use_mode":
        case "time_of_use_mode_clear": {
            const mode = agent.get(rt.ModeServer);
            const tag = name === "time_of_use_mode" ? rt.modeTags.TimeOfUse : rt.modeTags.Manual;
            const target = mode.state.supportedModes.find(m => m.modeTags.some(t => t.value === tag));
            if (target && mode.state.currentMode !== target.mode) mode.state.currentMode = target.mode;
            break;
        }
        case "evse_ground_fault":
            fw.faultSources.trigger = Flt.GroundFault;
            rt.applyFaults(evse);
            break;
        case "evse_over_temperature_fault":
            fw.faultSources.trigger = Flt.OverTemperature;
            rt.applyFaults(evse);
            break;
        case "evse_fault_clear":
            fw.faultSources.trigger = null;
            rt.applyFaults(evse);
            break;
        case "evse_diagnostics_complete":
            evse.hwDiagnosticsComplete();
            break;
        case "evse_set_soc_low":
        case "evse_set_soc_high":
        case "evse_set_soc_clear":
            if (cfg.has("SOC")) {
                s.stateOfCharge = name === "evse_set_soc_low" ? 20 : name === "evse_set_soc_high" ? 95 : null;
                s.batteryCapacity = name === "evse_set_soc_clear" ? null : 70_000_000;
                evse.recomputeSchedule();
            }
            break;
        case "evse_set_vehicleid":
            if (cfg.has("PNC")) s.vehicleId = VEHICLE_ID;
            break;
        case "evse_trigger_rfid":
            if (cfg.has("RFID")) evse.emitEvent("rfid", { uid: RFID_UID });
            break;
        default:
            throw new StatusResponseError(`unknown trigger ${name}`, Status.InvalidCommand);
    }
}
