"""The EV stimulus seam: the same case runs with Matter test event triggers, the physical EV emulator, or an operator.

A case asks for *what happens to the EVSE* (``await stimulus.apply(Action.PLUG_IN)``), never *how*; the mode comes
from rig.yaml ``stimulus`` or ``--stimulus`` and is written in the report header, and every stimulus applied is
noted on the step in progress (``stimulus [emulator]: EV emulator CP state B, 32 A cable``). A stimulus a mode
cannot produce raises ``StimulusUnavailable`` with the reason; cases turn that into a visibly skipped step
(``steps.skip_current``, see ``suites/tc_eevse/support.apply_or_skip``).

Modes:
    trigger: Energy EVSE test event triggers (as certification does). Instantaneous: the DUT has changed its
        state when the TestEventTrigger command returns.
    emulator: the bench's EV emulator and AC source (:class:`EmulatorStimulus`). The physical action returns once
        the bench has applied it (relays switched, pilot at the expected level); the EVSE's *reaction* is awaited by
        the case through the event it already waits for (``evse_events.next(...)``), so strict event checks stay
        strict. Actions without a physical means fall back to test event triggers when the DUT has them enabled.
    manual: an operator at a terminal does what the prompt says and presses Enter (:class:`ManualStimulus`); the
        same fallback to test event triggers applies.

Physical meaning of the actions in ``emulator`` mode (IEC 61851-1 Annex A: control pilot states and circuit):

=====================  ===============================================================================================
INSTALL                the EVSE is installed and powered: AC source output on at nominal mains (230 V, 50 Hz) if it is
                       not, EV emulator in state A with every fault path released and no cable. CircuitCapacity is the
                       installer's setting in the EVSE's own configuration: the bench does not change it (the
                       ``basic`` trigger forces 32 A instead). UserMaximumChargeCurrent is noted, to be put back at
                       UNINSTALL as ``basic clear`` does.
UNINSTALL              EV emulator released (state A, no cable, no fault paths); mains stay on; the
                       UserMaximumChargeCurrent noted at INSTALL is written back if a case changed it.
PLUG_IN                cable coded on PP (the smallest standard rating, 13/20/32/63 A, not below the EVSE's
                       CircuitCapacity, so the cable never hides the circuit limit), then CP state B (2.74 kOhm).
DEMAND / DEMAND_CLEAR  CP state C (S2 closed, 1.3 kOhm) / back to state B.
UNPLUG                 CP state A, then the cable removed from PP.
GROUND_FAULT           30 mA AC residual current injected through the EVSE's RCD sensor.
FAULT_CLEAR            every injected fault path removed (residual current, diode short, PE break); a fault raised
                       by a fallback trigger is then cleared with the ``fault clear`` trigger.
others                 SoC, VehicleID (ISO 15118), RFID (a reader), over-temperature (a climatic chamber),
                       diagnostics complete (firmware), time-of-use mode (a tariff): no physical means on this bench;
                       test event trigger when TestEventTriggersEnabled is true, else ``StimulusUnavailable``.
=====================  ===============================================================================================
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any, Protocol


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


log = logging.getLogger("rig.stimulus")

MODES = ("trigger", "emulator", "manual")


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

    async def close(self) -> None:
        """Release what the mode holds (the emulator back to state A); called after every case."""
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


NoteFn = Callable[[str], None]
"""Receives one line per stimulus applied (the fixture notes it on the step in progress)."""

ACTION_WORDS = {
    Action.INSTALL: "installation (basic functionality)",
    Action.UNINSTALL: "end of the installation (basic functionality clear)",
    Action.PLUG_IN: "EV plug-in",
    Action.UNPLUG: "EV unplug",
    Action.DEMAND: "EV charge demand",
    Action.DEMAND_CLEAR: "EV charge demand clear",
    Action.GROUND_FAULT: "ground fault",
    Action.OVER_TEMPERATURE_FAULT: "over-temperature fault",
    Action.FAULT_CLEAR: "fault clear",
    Action.DIAGNOSTICS_COMPLETE: "diagnostics complete",
    Action.SOC_LOW: "EV state of charge low",
    Action.SOC_HIGH: "EV state of charge high",
    Action.SOC_CLEAR: "EV state of charge clear",
    Action.VEHICLE_ID: "EV vehicle identification",
    Action.RFID: "RFID card presented",
    Action.TIME_OF_USE_MODE: "time-of-use mode",
    Action.TIME_OF_USE_MODE_CLEAR: "time-of-use mode clear",
}

NO_PHYSICAL_MEANS = {
    Action.SOC_LOW: "the EV's state of charge needs ISO 15118",
    Action.SOC_HIGH: "the EV's state of charge needs ISO 15118",
    Action.SOC_CLEAR: "the EV's state of charge needs ISO 15118",
    Action.VEHICLE_ID: "the vehicle identity needs ISO 15118 (PnC)",
    Action.RFID: "an RFID card needs a reader actuator",
    Action.OVER_TEMPERATURE_FAULT: "over-temperature needs a climatic chamber",
    Action.DIAGNOSTICS_COMPLETE: "diagnostics completion is internal to the firmware",
    Action.TIME_OF_USE_MODE: "the time-of-use mode is a tariff setting",
    Action.TIME_OF_USE_MODE_CLEAR: "the time-of-use mode is a tariff setting",
}
"""Actions no bench actuator produces, with the reason (they fall back to test event triggers)."""


def _no_note(_text: str) -> None:
    return None


class _TriggerFallback:
    """Test event triggers for the actions a physical mode cannot produce (when the DUT has them enabled)."""

    mode = "?"

    def __init__(self, evse: Any, note: NoteFn | None) -> None:
        self.evse = evse
        self.note = note or _no_note
        self._triggers_enabled: bool | None = None
        self.trigger_fault = False  # a fault was raised by a fallback trigger (FAULT_CLEAR must clear it)

    async def _fallback(self, action: Action) -> None:
        from rig.matter.triggers import Trigger

        why = NO_PHYSICAL_MEANS.get(action, f"no physical means for {action.value}")
        if self._triggers_enabled is None:
            self._triggers_enabled = bool(await self.evse.triggers_enabled())
        if not self._triggers_enabled:
            raise StimulusUnavailable(
                f"{ACTION_WORDS[action]}: not available in {self.mode} mode ({why}) and the DUT's "
                "TestEventTriggersEnabled is false, so no test event trigger can stand in"
            )
        await self.evse.trigger(Trigger[TRIGGER_FOR[action]])
        if action is Action.OVER_TEMPERATURE_FAULT:
            self.trigger_fault = True
        self.note(f"stimulus [{self.mode}]: {why}: test event trigger {TRIGGER_FOR[action]} instead")

    def supports(self, action: Action) -> str | None:
        """None if ``action`` can be produced (physically or by a fallback trigger), else the reason."""
        if action in NO_PHYSICAL_MEANS and self._triggers_enabled is False:
            return f"{NO_PHYSICAL_MEANS[action]} and the DUT's TestEventTriggersEnabled is false"
        return None


async def check_triggers_enabled(steps: Any, evse: Any, stimulus: Any) -> bool:
    """The test plan's "TestEventTriggersEnabled has to be 1" step: required in trigger mode, noted otherwise.

    A physical mode drives the EVSE without triggers, so a DUT with triggers disabled is still testable there (only
    the fallback stimuli become unavailable, and their steps are skipped with that reason).
    """
    enabled = bool(await evse.triggers_enabled())
    if stimulus.mode == "trigger":
        steps.measure("TestEventTriggersEnabled", enabled, expected=True)
    else:
        steps.note(f"TestEventTriggersEnabled = {enabled} (not required: {stimulus.mode} stimulus)")
    return enabled
