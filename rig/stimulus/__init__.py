"""The EV stimulus seam, one module per mode: trigger, emulator, manual (see :mod:`rig.stimulus.base`)."""

from __future__ import annotations

from typing import Any

from rig.stimulus.base import (
    ACTION_WORDS,
    MODES,
    NO_PHYSICAL_MEANS,
    TRIGGER_FOR,
    Action,
    NoteFn,
    Stimulus,
    StimulusUnavailable,
    check_triggers_enabled,
)
from rig.stimulus.emulator import CABLE_RATINGS_A, EmulatorStimulus, cable_for
from rig.stimulus.manual import DEFAULT_MANUAL_TIMEOUT_S, MANUAL_PROMPTS, NO_OPERATOR, ManualStimulus, manual_timeout_s
from rig.stimulus.trigger import TriggerStimulus

__all__ = [
    "ACTION_WORDS",
    "CABLE_RATINGS_A",
    "DEFAULT_MANUAL_TIMEOUT_S",
    "MANUAL_PROMPTS",
    "MODES",
    "NO_OPERATOR",
    "NO_PHYSICAL_MEANS",
    "TRIGGER_FOR",
    "Action",
    "EmulatorStimulus",
    "ManualStimulus",
    "NoteFn",
    "Stimulus",
    "StimulusUnavailable",
    "TriggerStimulus",
    "cable_for",
    "check_triggers_enabled",
    "make_stimulus",
    "manual_timeout_s",
]


def make_stimulus(
    mode: str, evse: Any, bench: Any, *, note: NoteFn | None = None, manual_timeout: float = DEFAULT_MANUAL_TIMEOUT_S
) -> Any:
    """Build the stimulus of ``mode`` (trigger, emulator, manual).

    Raises:
        StimulusUnavailable: the mode cannot run on this bench (the reason says why).
        ValueError: an unknown mode.
    """
    if mode == "trigger":
        return TriggerStimulus(evse, note)
    if mode == "emulator":
        return EmulatorStimulus(bench, evse, note)
    if mode == "manual":
        return ManualStimulus(evse, note, timeout_s=manual_timeout)
    raise ValueError(f"unknown stimulus mode {mode!r}; modes: {', '.join(MODES)}")
