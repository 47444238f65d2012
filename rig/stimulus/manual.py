"""Manual mode: an operator at a terminal does what the prompt says and presses Enter."""

from __future__ import annotations

import asyncio
import os
import select
from typing import Any

from rig.stimulus.base import NO_PHYSICAL_MEANS, Action, NoteFn, StimulusUnavailable, _TriggerFallback

MANUAL_PROMPTS = {
    Action.INSTALL: "Power the EVSE from its circuit at nominal mains, nothing plugged in, no fault",
    Action.UNINSTALL: "Unplug everything from the EVSE and leave it powered",
    Action.PLUG_IN: "Plug the EV in (state B, not asking for energy)",
    Action.UNPLUG: "Unplug the EV (state A)",
    Action.DEMAND: "Make the EV ask for energy (state C)",
    Action.DEMAND_CLEAR: "Make the EV stop asking for energy (back to state B)",
    Action.GROUND_FAULT: "Inject a 30 mA AC residual current (RCD test)",
    Action.FAULT_CLEAR: "Remove every injected fault",
}

DEFAULT_MANUAL_TIMEOUT_S = 120.0
NO_OPERATOR = "manual stimulus needs an operator at a terminal"


class ManualStimulus(_TriggerFallback):
    """Stimulus by an operator: a prompt on the terminal, confirmed with Enter within a timeout.

    Actions no operator can produce on a bench without actuators (:data:`NO_PHYSICAL_MEANS`) fall back to test event
    triggers like the emulator mode.

    Args:
        evse: the Evse under test (fallback triggers).
        note: receives one line per stimulus applied.
        timeout_s: how long the operator has to confirm, s.
        tty: the terminal to prompt on (default ``/dev/tty``); without one (CI) every prompt is unavailable.
    """

    mode = "manual"

    def __init__(
        self,
        evse: Any,
        note: NoteFn | None = None,
        *,
        timeout_s: float = DEFAULT_MANUAL_TIMEOUT_S,
        tty: str = "/dev/tty",
    ) -> None:
        super().__init__(evse, note)
        self.timeout_s = timeout_s
        self.tty = tty

    def _terminal(self) -> int | None:
        if os.environ.get("CI"):
            return None
        try:
            fd = os.open(self.tty, os.O_RDWR | os.O_NOCTTY)
        except OSError:
            return None
        if not os.isatty(fd):
            os.close(fd)
            return None
        return fd

    def _prompt(self, text: str) -> bool:
        """Prompt and wait for Enter; True if confirmed, False on timeout. StimulusUnavailable without a terminal."""
        fd = self._terminal()
        if fd is None:
            raise StimulusUnavailable(NO_OPERATOR)
        try:
            os.write(fd, f"\n[rig] OPERATOR: {text}, then press Enter (within {self.timeout_s:g} s): ".encode())
            ready, _, _ = select.select([fd], [], [], self.timeout_s)
            if not ready:
                os.write(fd, b"\n[rig] no confirmation: timed out\n")
                return False
            os.read(fd, 1024)
            return True
        finally:
            os.close(fd)

    async def apply(self, action: Action) -> None:
        """Prompt the operator for ``action`` (or send its fallback trigger)."""
        if action in NO_PHYSICAL_MEANS:
            await self._fallback(action)
            return
        text = MANUAL_PROMPTS[action]
        if not await asyncio.to_thread(self._prompt, text):
            raise AssertionError(f"manual stimulus: the operator did not confirm {text!r} within {self.timeout_s:g} s")
        self.note(f"stimulus [{self.mode}]: operator confirmed: {text}")

    async def close(self) -> None:
        """Nothing to release."""


def manual_timeout_s(extra: dict[str, Any]) -> float:
    """The operator's timeout from PIXIT ``dut.pixit.extra.manual_stimulus_timeout_s`` (default 120 s)."""
    value = extra.get("manual_stimulus_timeout_s", DEFAULT_MANUAL_TIMEOUT_S)
    try:
        return float(value)
    except (TypeError, ValueError):
        return DEFAULT_MANUAL_TIMEOUT_S
