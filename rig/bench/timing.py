"""Timed measurements on the bench's oscilloscope: the capture is armed and has triggered before the rig causes the
stimulus, so the stimulus and the reaction both lie in one single-shot record, and :mod:`rig.analysis` finds both.

The trigger only places the record in time; no instrument reports when a relay switched or a program started, so
every time comes from the waveforms: the stimulus where it shows (a CP level change, the residual test current, the
AC source's output or trigger-out) and the reaction (the EVSE's output on or off, the PWM starting or stopping). The
default trigger is the AC source's output (``ac_source``): a mains sine always crosses 0 V within a cycle, so the
scope triggers at once, at a known phase, and the record then runs for the plan's duration.

Each HIL case states its :class:`CapturePlan` (trigger source, timebase, channels); :meth:`CapturePlan.describe`
goes into the report with the record's sample interval.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from rig.analysis import AnalysisError, Waveform, ac_gate, first_excursion, first_pwm_start, level_change
from rig.ev_emulator.pilot import LEVEL_TOLERANCE_V, NOMINAL_HIGH_V, NOMINAL_LOW_V
from rig.instruments.capabilities import CaptureSetup, SignalSetup, TriggerSetup, WaveformCapture

T = TypeVar("T")

SCALES_V_DIV: Mapping[str, float] = {"cp": 5.0, "evse_output": 100.0, "ac_source": 100.0, "residual_current": 2.0}
"""Vertical scale per bench signal, V/div at the probe tip: +-20 V pilot, +-400 V mains, +-8 V across the residual
current shunt (docs/real-bench.md, "Scope channels")."""
MAINS_TRIGGER = TriggerSetup("ac_source", 0.0, "rising", "normal")
"""Trigger on the AC source's output rising through 0 V: within one mains cycle of arming."""
PRETRIGGER_DIV = 0.5
"""Divisions of the record before the trigger."""
DIVISIONS = 10
"""Horizontal divisions of the InfiniiVision screen (the record spans them)."""
TRIGGER_TIMEOUT_S = 2.0
"""How long the armed scope may take to trigger, s."""
COMPLETE_MARGIN_S = 5.0
"""How long past the record's end the scope may take to complete it, s."""
R1_OHM = 1000.0
"""The EVSE's CP source resistor (IEC 61851-1 Table A.2)."""
R_EV_C_OHM = 1.0 / (1.0 / 2740.0 + 1.0 / 1300.0)
"""The EV side in state C: R2 2.74 kOhm parallel to R3 1.3 kOhm (IEC 61851-1 Table A.2)."""
DIODE_SHORT_LOW_V = NOMINAL_LOW_V * R_EV_C_OHM / (R_EV_C_OHM + R1_OHM)
"""The pilot's negative level in state C with the EV diode shorted: the -12 V half loaded by the EV resistors."""
DIODE_SHORT_TOLERANCE_V = 1.5
"""Window around :data:`DIODE_SHORT_LOW_V`, V (the EV resistors' and R1's tolerances)."""
RESIDUAL_ONSET_V = 0.3
"""The residual test current counts as flowing once the scope's shunt shows this much, V (3 mA across 100 Ohm)."""


def time_scale_for(post_trigger_s: float) -> float:
    """Return the time scale (s/div, two significant digits, rounded up) whose screen holds ``post_trigger_s`` after
    the trigger: the record is as long as the measurement needs and no longer (a capture lasts as long as its
    record). InfiniiVision scopes take fine time scales as well as the 1-2-5 steps."""
    if not (math.isfinite(post_trigger_s) and post_trigger_s > 0):
        raise ValueError(f"a capture's duration must be > 0 s, got {post_trigger_s!r}")
    wanted = post_trigger_s / (DIVISIONS - PRETRIGGER_DIV)
    decade = 10.0 ** (math.floor(math.log10(wanted)) - 1)
    return round(math.ceil(wanted / decade - 1e-9) * decade, 12)


@dataclass(frozen=True)
class CapturePlan:
    """One timed measurement's capture: the signals, how long after the trigger it records, and the trigger.

    Attributes:
        name: what is timed (in the report).
        signals: the bench signals recorded (names of the scope role's channel map); the trigger's is added.
        duration_s: how long after the trigger the record runs: the stimulus comes right after the trigger, so this
            is the reaction limit plus the rig's own latency and a margin. A reaction later than that is absent from
            the record, and the analysis says so.
        trigger: the trigger (default: the AC source's output rising through 0 V).
    """

    name: str
    signals: tuple[str, ...]
    duration_s: float
    trigger: TriggerSetup = MAINS_TRIGGER

    @property
    def time_scale_s_div(self) -> float:
        """Get the timebase, s/div."""
        return time_scale_for(self.duration_s)

    def setup(self) -> CaptureSetup:
        """Return the scope set-up: the trigger :data:`PRETRIGGER_DIV` divisions from the left edge."""
        names = list(dict.fromkeys((*self.signals, self.trigger.signal)))
        scale = self.time_scale_s_div
        return CaptureSetup(
            signals=tuple(SignalSetup(n, SCALES_V_DIV.get(n, 5.0)) for n in names),
            time_scale_s_div=scale,
            trigger=self.trigger,
            time_position_s=(DIVISIONS / 2 - PRETRIGGER_DIV) * scale,
        )

    def describe(self) -> str:
        """One line for the report: trigger, timebase, channels."""
        setup = self.setup()
        t = self.trigger
        channels = ", ".join(f"{s.signal} {s.scale_v_div:g} V/div" for s in setup.signals)
        return (
            f"capture '{self.name}': trigger {t.signal} {t.slope} through {t.level_v:g} V ({t.sweep} sweep), "
            f"{setup.time_scale_s_div:g} s/div with the trigger {PRETRIGGER_DIV:g} div from the left, "
            f"channels {channels}"
        )


@dataclass(frozen=True)
class Capture:
    """A completed timed capture: the plan and each recorded signal as a :class:`rig.analysis.Waveform` (times
    from the trigger, s)."""

    plan: CapturePlan
    traces: Mapping[str, Waveform]

    def __getitem__(self, signal: str) -> Waveform:
        return self.traces[signal]

    @property
    def sample_interval_s(self) -> float:
        """Get the time between samples, s (one resolution limit of every time measured on it)."""
        return min(w.sample_interval for w in self.traces.values())

    def describe(self) -> str:
        """The plan and the record: points and sample interval."""
        w = next(iter(self.traces.values()))
        return f"{self.plan.describe()}; {w.t.size} points, {self.sample_interval_s:.3g} s per sample"


def _waveform(scope: WaveformCapture, signal: str) -> Waveform:
    """Read ``signal``; samples the scope has no data for (NaN) are bridged from their neighbours."""
    import numpy as np

    trace = scope.read_trace(signal)
    v = trace.volts
    good = np.isfinite(v)
    if not good.all():
        if np.count_nonzero(good) < 2:
            raise ValueError(f"the scope returned no data for signal {signal!r}")
        v = np.interp(trace.t_s, trace.t_s[good], v[good])
    return Waveform(trace.t_s, v, signal, trace.sample_interval_s)


async def capture(scope: WaveformCapture, plan: CapturePlan, act: Callable[[], Awaitable[object]]) -> Capture:
    """Configure ``plan``, arm, wait for the trigger, run ``act`` (the stimulus), wait for the record to complete and
    read every signal.

    Raises:
        InstrumentError: the scope did not trigger or complete (names role, address and command), or queued an error.
        ConfigError: a signal the scope role does not map.
    """
    setup = plan.setup()
    await asyncio.to_thread(scope.configure, setup)
    await asyncio.to_thread(scope.arm)
    await asyncio.to_thread(scope.wait_triggered, TRIGGER_TIMEOUT_S)
    await act()
    await asyncio.to_thread(scope.wait_complete, plan.duration_s + COMPLETE_MARGIN_S)
    traces = {}
    for s in setup.signals:
        traces[s.signal] = await asyncio.to_thread(_waveform, scope, s.signal)
    return Capture(plan, traces)


# ---------------------------------------------------------------------------------------------- features
def analysed(cap: Capture, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run one analysis on a capture; a feature it cannot find raises AnalysisError naming the capture."""
    try:
        return fn(*args, **kwargs)
    except AnalysisError as exc:
        raise AnalysisError(f"{cap.plan.name}: {exc}") from None


def cp_change(cap: Capture, from_state: str, to_state: str) -> float:
    """Return when the pilot's plateau moved from ``from_state``'s level to ``to_state``'s (IEC 61851-1 Table A.4),
    s: the EV emulator's relays switching, as the pilot shows it."""
    cp = cap["cp"]
    found = analysed(
        cap,
        level_change,
        cp,
        cp.start_s,
        NOMINAL_HIGH_V[from_state],
        NOMINAL_HIGH_V[to_state],
        tolerance_v=LEVEL_TOLERANCE_V,
    )
    return found.t_s


def diode_short(cap: Capture) -> float:
    """Return when the pilot's negative level rose from -12 V to :data:`DIODE_SHORT_LOW_V` (EV diode shorted), s."""
    cp = cap["cp"]
    found = analysed(
        cap, level_change, cp, cp.start_s, NOMINAL_LOW_V, DIODE_SHORT_LOW_V, tolerance_v=DIODE_SHORT_TOLERANCE_V
    )
    return found.t_s


def residual_onset(cap: Capture) -> float:
    """Return when the residual test current began to flow (the scope's ``residual_current`` shunt), s."""
    w = cap["residual_current"]
    return analysed(cap, first_excursion, w, w.start_s, RESIDUAL_ONSET_V)


def output_switched(cap: Capture, on: bool, after: float, signal: str = "evse_output") -> float:
    """Return when an AC signal (the EVSE's output: its contactor) turned on (``on``) or off after ``after``, s."""
    gate = analysed(cap, ac_gate, cap[signal])
    return analysed(cap, gate.first_on if on else gate.first_off, after)


def pwm_start(cap: Capture, after: float) -> float:
    """Return when the EVSE's PWM started after ``after`` (its first edge), s."""
    return analysed(cap, first_pwm_start, cap["cp"], after).t_s
