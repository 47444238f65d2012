"""Waveform analysis behind the bench's timed measurements: a single-shot scope capture in, plain figures out.

A real bench reads a capture from its oscilloscope (preamble + data block), the virtual bench synthesises one; the
same code measures both. Pure numpy: no instrument, no I/O. A feature that is not in the capture raises
:class:`AnalysisError` naming what was looked for and where; callers turn it into a test failure.

* ``waveform``: :class:`Preamble` (Keysight, Rigol), :class:`Waveform`, :func:`levels`, :func:`edges`,
  :func:`first_edge`, :func:`first_excursion`, :func:`delay`.
* ``pilot``: the IEC 61851-1 control pilot: :func:`pwm_stats`, :func:`pilot_state_by_level`, :func:`pwm_present`,
  :func:`first_pwm_start`, :func:`pwm_stop`, :func:`level_change`.
* ``mains``: :func:`ac_gate`, when an AC output turns on and off.
* ``synth``: synthesised captures with a known truth (the virtual scope, the tests, the benchmark).
"""

from rig.analysis.mains import AcGate, ac_gate
from rig.analysis.pilot import (
    PILOT_STATE_LEVELS,
    LevelChange,
    PilotLevel,
    PilotState,
    PwmStart,
    PwmStats,
    PwmStop,
    first_pwm_start,
    level_change,
    pilot_edges,
    pilot_state_by_level,
    pwm_present,
    pwm_stats,
    pwm_stop,
)
from rig.analysis.waveform import (
    AnalysisError,
    Edges,
    Levels,
    Preamble,
    Waveform,
    delay,
    edges,
    first_edge,
    first_excursion,
    levels,
)

__all__ = [
    "PILOT_STATE_LEVELS",
    "AcGate",
    "AnalysisError",
    "Edges",
    "LevelChange",
    "Levels",
    "PilotLevel",
    "PilotState",
    "Preamble",
    "PwmStart",
    "PwmStats",
    "PwmStop",
    "Waveform",
    "ac_gate",
    "delay",
    "edges",
    "first_edge",
    "first_excursion",
    "first_pwm_start",
    "level_change",
    "levels",
    "pilot_edges",
    "pilot_state_by_level",
    "pwm_present",
    "pwm_stats",
    "pwm_stop",
]
