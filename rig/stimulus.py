"""The EV stimulus seam: the same case runs with Matter test event triggers, the physical EV emulator, or an operator.

A case asks for *what happens to the EVSE* (``await stim.plug_in()``), never *how*; the mode comes from rig.yaml
``stimulus`` or ``--stimulus`` and is written in the report. A stimulus a mode cannot produce raises
``StimulusUnavailable`` with the reason; cases turn that into a visibly skipped step (``steps.skip_current``).

Modes:
    trigger: Energy EVSE test event triggers (as certification does).
    emulator: the EV emulator and AC source of the bench (plug-in = pilot state B, demand = C, unplug = A, ground
        fault = injected residual current, clear = removing it); stimuli no physical action produces (SoC,
        VehicleID, RFID, over-temperature, diagnostics complete) fall back to test event triggers when the DUT has
        them enabled.
    manual: an operator prompt with a timeout, for benches without an actuator.
"""

from __future__ import annotations

import enum
from typing import Protocol


class Action(enum.Enum):
    """What a case can ask to happen to the EVSE."""

    INSTALL = "install"  # the EVSE is installed: circuit capacity and limits known (trigger: basic)
    UNINSTALL = "uninstall"  # end of the installation simulation (trigger: basic clear)
    PLUG_IN = "plug_in"
    UNPLUG = "unplug"
    DEMAND = "demand"
    DEMAND_CLEAR = "demand_clear"
    GROUND_FAULT = "ground_fault"
    OVER_TEMPERATURE_FAULT = "over_temperature_fault"
    FAULT_CLEAR = "fault_clear"
    DIAGNOSTICS_COMPLETE = "diagnostics_complete"
    SOC_LOW = "soc_low"
    SOC_HIGH = "soc_high"
    SOC_CLEAR = "soc_clear"
    VEHICLE_ID = "vehicle_id"
    RFID = "rfid"
    TIME_OF_USE_MODE = "time_of_use_mode"
    TIME_OF_USE_MODE_CLEAR = "time_of_use_mode_clear"


class StimulusUnavailable(Exception):
    """The mode cannot produce this stimulus; the message says why (shown as the skip reason)."""


class Stimulus(Protocol):
    """One stimulus mode."""

    mode: str

    def supports(self, action: Action) -> str | None:
        """None if ``action`` can be produced, else the reason it cannot."""
        ...

    async def apply(self, action: Action) -> None:
        """Make ``action`` happen; raise StimulusUnavailable if this mode cannot."""
        ...


TRIGGER_FOR = {
    Action.INSTALL: "BASIC",
    Action.UNINSTALL: "BASIC_CLEAR",
    Action.PLUG_IN: "PLUGGED_IN",
    Action.UNPLUG: "PLUGGED_IN_CLEAR",
    Action.DEMAND: "CHARGE_DEMAND",
    Action.DEMAND_CLEAR: "CHARGE_DEMAND_CLEAR",
    Action.GROUND_FAULT: "GROUND_FAULT",
    Action.OVER_TEMPERATURE_FAULT: "OVER_TEMPERATURE_FAULT",
    Action.FAULT_CLEAR: "FAULT_CLEAR",
    Action.DIAGNOSTICS_COMPLETE: "DIAGNOSTICS_COMPLETE",
    Action.SOC_LOW: "SOC_LOW",
    Action.SOC_HIGH: "SOC_HIGH",
    Action.SOC_CLEAR: "SOC_CLEAR",
    Action.VEHICLE_ID: "VEHICLE_ID",
    Action.RFID: "RFID",
    Action.TIME_OF_USE_MODE: "TIME_OF_USE_MODE",
    Action.TIME_OF_USE_MODE_CLEAR: "TIME_OF_USE_MODE_CLEAR",
}


class TriggerStimulus:
    """Stimulus by Energy EVSE test event triggers (General Diagnostics TestEventTrigger, endpoint 0).

    Args:
        evse: the rig.matter.eevse.Evse under test (sends the triggers with the PIXIT enable key).
    """

    mode = "trigger"

    def __init__(self, evse: object) -> None:
        self.evse = evse

    def supports(self, action: Action) -> str | None:
        """Every action has a test event trigger."""
        return None if action in TRIGGER_FOR else f"no test event trigger for {action.value}"

    async def apply(self, action: Action) -> None:
        """Send the action's test event trigger."""
        from rig.matter.triggers import Trigger

        reason = self.supports(action)
        if reason:
            raise StimulusUnavailable(reason)
        await self.evse.trigger(Trigger[TRIGGER_FOR[action]])  # type: ignore[attr-defined]
