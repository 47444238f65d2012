"""Trigger mode: Energy EVSE test event triggers, as certification does (the DUT has changed state on return)."""

from __future__ import annotations

from typing import Any

from rig.stimulus.base import TRIGGER_FOR, Action, NoteFn, StimulusUnavailable, _no_note


class TriggerStimulus:
    """Stimulus by Energy EVSE test event triggers (General Diagnostics TestEventTrigger, endpoint 0).

    Args:
        evse: the rig.matter.eevse.Evse under test (sends the triggers with the PIXIT enable key).
        note: receives one line per trigger sent (for the report).
    """

    mode = "trigger"

    def __init__(self, evse: Any, note: NoteFn | None = None) -> None:
        self.evse = evse
        self.note = note or _no_note

    def supports(self, action: Action) -> str | None:
        """Every action has a test event trigger."""
        return None if action in TRIGGER_FOR else f"no test event trigger for {action.value}"

    async def apply(self, action: Action) -> None:
        """Send the action's test event trigger."""
        from rig.matter.triggers import Trigger

        reason = self.supports(action)
        if reason:
            raise StimulusUnavailable(reason)
        await self.evse.trigger(Trigger[TRIGGER_FOR[action]])
        self.note(f"stimulus [{self.mode}]: test event trigger {TRIGGER_FOR[action]}")

    async def close(self) -> None:
        """Nothing to release."""
