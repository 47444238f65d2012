"""The control pilot in a capture (IEC 61851-1 Annex A): PWM figures, states by level, PWM start and stop, level
changes.

The pilot is a 1 kHz PWM between the EV's level (12/9/6/3 V for states A..D) and -12 V, or a DC level (x1 states,
E at 0 V, F at -12 V). Edges are found with hysteresis at 25 % and 50 % of the way from the capture's low to its
high level (so a 3 V plateau of state D is seen even in a capture that also holds 12 V) and timed at the 50 % point
between the plateaus on either side of each edge (:func:`rig.analysis.waveform.edges`), as the scopes' default
middle threshold does.

Start and stop are read from the edges: a *run* is a sequence of edges none more than 1.5 periods apart; a start is
the first edge of a run of at least ``min_periods`` periods after at least ``min_dc_s`` without edges, a stop the last
edge of a run followed by as long without edges. From a DC high level the first visible edge is the first period's
falling one, so a start is seen up to one high time (< 1 ms at 1 kHz) after the generator's start; likewise a stop's
last edge comes up to one period before the generator stops. Both results carry the other bound too
(:attr:`PwmStart.earliest_s`, :attr:`PwmStop.due_s`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rig.analysis.waveform import (
    AnalysisError,
    BoolArray,
    Edges,
    FloatArray,
    IntArray,
    Waveform,
    edges,
    levels,
    windowed,
)
from rig.ev_emulator.pilot import LEVEL_TOLERANCE_V, NOMINAL_HIGH_V

PilotState = Literal["A", "B", "C", "D", "E", "F"]
EdgeName = Literal["rising", "falling"]


@dataclass(frozen=True)
class PilotLevel:
    """One row of the state table: the pilot's positive (or DC) level for a state.

    Attributes:
        state: A..F.
        nominal_v: nominal level, V.
        min_v: lowest level read as this state, V (inclusive).
        max_v: highest level read as this state, V (inclusive).
        meaning: what the state says.
    """

    state: PilotState
    nominal_v: float
    min_v: float
    max_v: float
    meaning: str


_MEANINGS: dict[str, str] = {
    "A": "no vehicle connected",
    "B": "vehicle connected, not ready to accept energy",
    "C": "vehicle ready, no ventilation required",
    "D": "vehicle ready, ventilation required",
    "E": "pilot shorted to PE or no supply",
    "F": "EVSE not available",
}
PILOT_STATE_LEVELS: tuple[PilotLevel, ...] = tuple(
    PilotLevel(state, v, v - LEVEL_TOLERANCE_V, v + LEVEL_TOLERANCE_V, _MEANINGS[state])  # type: ignore[arg-type]
    for state, v in NOMINAL_HIGH_V.items()
)
"""The pilot states by the EVSE-side positive level: IEC 61851-1:2017 Annex A, Table A.4 (system states detected by
the EVSE), nominal levels with +-1 V windows as quoted by the Siemens SIMATIC ET 200SP TM ECC 2xPWM ST manual
("tolerance +-1 V", levels measured after stabilisation) and the Metrel A 1632 eMobility Analyser manual (states
classified "according to Table A.4 of IEC/EN 61851-1"); built from the rig's one table of levels,
:data:`rig.ev_emulator.pilot.NOMINAL_HIGH_V` and :data:`rig.ev_emulator.pilot.LEVEL_TOLERANCE_V`. Pass a narrower
table to :func:`pilot_state_by_level` for a
stricter bench limit."""

PILOT_NOMINAL_HZ = 1000.0
"""Pilot PWM frequency, Hz (IEC 61851-1 Annex A: 1 kHz)."""

PILOT_MIN_SWING_V = 4.0
"""A pilot whose two levels are closer than this is DC (the smallest PWM swing, state D with a healthy diode, is
15 V; a shorted diode in state D still swings about 5 V)."""

PILOT_THRESHOLDS = (0.25, 0.5)
"""The Schmitt trigger's thresholds, as fractions of the way from the capture's low to its high level."""

MIN_PERIODS = 3
"""Whole periods that make a PWM (fewer are a burst, not a start)."""


def pilot_state_by_level(high_v: float, table: tuple[PilotLevel, ...] = PILOT_STATE_LEVELS) -> PilotState:
    """Return the state whose window holds the pilot's positive plateau (or its DC level).

    Raises:
        AnalysisError: the level is in no window; the message lists them.
    """
    for row in table:
        if row.min_v <= high_v <= row.max_v:
            return row.state
    windows = ", ".join(f"{row.state} {row.min_v:g}..{row.max_v:g} V" for row in table)
    raise AnalysisError(f"a pilot level of {high_v:.2f} V is in no state window ({windows})")


def pilot_edges(w: Waveform, window: tuple[float, float] | None = None) -> Edges:
    """Find the pilot's edges (thresholds :data:`PILOT_THRESHOLDS`; none when the swing is below
    :data:`PILOT_MIN_SWING_V`)."""
    return edges(w, window=window, min_swing_v=PILOT_MIN_SWING_V, fractions=PILOT_THRESHOLDS)


# ------------------------------------------------------------------------------------------------------ PWM figures
@dataclass(frozen=True)
class PwmStats:
    """A PWM measured over whole periods.

    Attributes:
        frequency_hz: periods / their total time.
        duty_pct: total high time / total period time, %.
        high_v: median of the high plateaus' samples (the middle half of each high phase), V.
        low_v: median of the low plateaus' samples, V.
        periods: whole periods measured (rising edge to rising edge).
        high_samples: samples behind ``high_v``.
        low_samples: samples behind ``low_v``.
        start_s: start of the window measured, s.
        end_s: end of the window measured, s.
    """

    frequency_hz: float
    duty_pct: float
    high_v: float
    low_v: float
    periods: int
    high_samples: int
    low_samples: int
    start_s: float
    end_s: float


def _whole_periods(e: Edges, max_period_s: float) -> tuple[IntArray, FloatArray, FloatArray]:
    """Whole periods (edges alternate): index of each period's rising edge, its period and its high time."""
    n = len(e)
    if n < 3:
        empty = np.empty(0)
        return np.empty(0, dtype=np.intp), empty, empty
    first = np.flatnonzero(e.is_rising[: n - 2])
    period = e.times[first + 2] - e.times[first]
    high = e.times[first + 1] - e.times[first]
    keep = period <= max_period_s
    return first[keep], period[keep], high[keep]


def _interval_mask(t: FloatArray, starts: FloatArray, ends: FloatArray) -> BoolArray:
    """Samples with ``starts[i] <= t <= ends[i]`` for some ``i`` (intervals in order, not overlapping)."""
    a = np.searchsorted(t, starts, side="left")
    b = np.searchsorted(t, ends, side="right")
    ok = b > a
    marks = np.zeros(t.size + 1, dtype=np.int64)
    np.add.at(marks, a[ok], 1)
    np.add.at(marks, b[ok], -1)
    mask: BoolArray = np.cumsum(marks[:-1]) > 0
    return mask


def pwm_stats(
    w: Waveform, window: tuple[float, float] | None = None, *, nominal_hz: float = PILOT_NOMINAL_HZ
) -> PwmStats:
    """Measure the pilot PWM: frequency, duty cycle (high time / period over whole periods), high and low levels.

    Args:
        w: the capture.
        window: only (start, end), s.
        nominal_hz: periods longer than 1.5 nominal periods (a pause, a DC stretch) are not counted.

    Raises:
        AnalysisError: no whole period in the window.
    """
    part = windowed(w, window)
    e = pilot_edges(part)
    first, period, high = _whole_periods(e, 1.5 / nominal_hz)
    if first.size == 0:
        raise AnalysisError(
            f"no whole PWM period on {w.channel} in t={part.start_s:.3f}..{part.end_s:.3f} s of {w.describe()} "
            f"({e.rising.size} rising and {e.falling.size} falling edges)"
        )
    t_rise, t_fall = e.times[first], e.times[first + 1]
    low = period - high
    high_mask = _interval_mask(part.t, t_rise + high / 4, t_fall - high / 4)
    low_mask = _interval_mask(part.t, t_fall + low / 4, t_rise + period - low / 4)
    high_samples, low_samples = int(high_mask.sum()), int(low_mask.sum())
    return PwmStats(
        frequency_hz=float(first.size / period.sum()),
        duty_pct=float(100.0 * high.sum() / period.sum()),
        high_v=float(np.median(part.v[high_mask])) if high_samples else math.nan,
        low_v=float(np.median(part.v[low_mask])) if low_samples else math.nan,
        periods=int(first.size),
        high_samples=high_samples,
        low_samples=low_samples,
        start_s=part.start_s,
        end_s=part.end_s,
    )


def _runs(e: Edges, gap_s: float) -> list[tuple[int, int]]:
    """Runs of edges no more than ``gap_s`` apart, as (first, last) edge indices."""
    if len(e) == 0:
        return []
    breaks = np.flatnonzero(np.diff(e.times) > gap_s)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(e) - 1]))
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def pwm_present(
    w: Waveform,
    window: tuple[float, float] | None = None,
    *,
    nominal_hz: float = PILOT_NOMINAL_HZ,
    min_periods: int = MIN_PERIODS,
) -> bool:
    """Return whether the pilot oscillates: a run of at least ``min_periods`` periods (else it is DC)."""
    e = pilot_edges(w, window)
    return any(b - a >= 2 * min_periods for a, b in _runs(e, 1.5 / nominal_hz))


# -------------------------------------------------------------------------------------------------- start and stop
@dataclass(frozen=True)
class PwmStart:
    """Where the PWM starts.

    Attributes:
        t_s: the first edge of the oscillation, s; the generator started at or before it.
        earliest_s: the earliest it can have started, s: from a DC high level the first period's high phase looks
            like the DC before it, so ``t_s`` minus the run's high time; from a DC low level, ``t_s``.
        first_edge: ``falling`` from a DC high level (x1 -> x2), ``rising`` from a DC low level (F -> x2).
        dc_before_v: the DC level before, V (median of up to one period before the first edge).
        frequency_hz: frequency of the run that starts.
        duty_pct: duty cycle of that run, %.
    """

    t_s: float
    earliest_s: float
    first_edge: EdgeName
    dc_before_v: float
    frequency_hz: float
    duty_pct: float


@dataclass(frozen=True)
class PwmStop:
    """Where the PWM stops.

    Attributes:
        t_s: the last edge of the oscillation, s; the generator stopped at or after it.
        due_s: when the next edge was due and did not come, s (the last edge plus the run's high or low time): the
            latest the generator can have stopped, the conservative end for a reaction-time limit.
        last_edge: ``rising`` when the pilot stays at its high level (x2 -> x1), ``falling`` when it stays low.
        dc_after_v: the DC level after, V (median of up to one period after the last edge).
    """

    t_s: float
    due_s: float
    last_edge: EdgeName
    dc_after_v: float


def _median_between(w: Waveform, a: float, b: float) -> float:
    lo, hi = w.index(a), int(np.searchsorted(w.t, b, side="right"))
    return float(np.median(w.v[lo:hi])) if hi > lo else math.nan


@dataclass(frozen=True)
class _RunFigures:
    frequency_hz: float
    duty_pct: float
    high_s: float
    low_s: float


def _run_figures(e: Edges, a: int, b: int, nominal_hz: float) -> _RunFigures:
    """Frequency, duty and the median high and low times of the whole periods among edges ``a..b``."""
    sub = Edges(e.times[a : b + 1], e.is_rising[a : b + 1], e.lower_v, e.upper_v, None, 0.0, 0.0, e.channel)
    _, period, high = _whole_periods(sub, 1.5 / nominal_hz)
    if period.size == 0:
        return _RunFigures(math.nan, math.nan, math.nan, math.nan)
    return _RunFigures(
        float(period.size / period.sum()),
        float(100.0 * high.sum() / period.sum()),
        float(np.median(high)),
        float(np.median(period - high)),
    )


def first_pwm_start(
    w: Waveform,
    after: float,
    *,
    nominal_hz: float = PILOT_NOMINAL_HZ,
    min_periods: int = MIN_PERIODS,
    min_dc_s: float | None = None,
) -> PwmStart:
    """Find the first PWM start after ``after``: the first edge of a run of at least ``min_periods`` periods that
    follows at least ``min_dc_s`` (default 3 nominal periods) without edges (or the capture's start).

    Raises:
        AnalysisError: none; the message says whether the PWM was already running, only bursts came, or the pilot
            stayed DC.
    """
    quiet = 3.0 / nominal_hz if min_dc_s is None else min_dc_s
    period = 1.0 / nominal_hz
    e = pilot_edges(w)
    reasons: list[str] = []
    for a, b in _runs(e, 1.5 * period):
        t_first = float(e.times[a])
        if t_first <= after:
            if e.times[b] > after and b - a >= 2 * min_periods:
                reasons = [f"the PWM was already running at t={after:.3f} s"]
            continue
        before = float(e.times[a - 1]) if a > 0 else w.start_s
        if t_first - before < quiet:
            continue  # a pause within a running PWM, not a start
        if b - a < 2 * min_periods:
            reasons.append(f"a burst of {(b - a + 1) // 2} periods at t={t_first:.6f} s")
            continue
        run = _run_figures(e, a, b, nominal_hz)
        guard = 0.05 * period
        dc = _median_between(w, max(before, t_first - period) + guard, t_first - guard)
        kind: EdgeName = "rising" if e.is_rising[a] else "falling"
        earliest = t_first if kind == "rising" else t_first - run.high_s
        return PwmStart(t_first, earliest, kind, dc, run.frequency_hz, run.duty_pct)
    if not reasons:
        tail = w.window(after, None) if after < w.end_s else w
        reasons = [f"the pilot stays DC (levels {_level_text(tail)})"]
    raise AnalysisError(f"no PWM start on {w.channel} after t={after:.3f} s in {w.describe()}: {'; '.join(reasons)}")


def pwm_stop(
    w: Waveform,
    after: float,
    *,
    nominal_hz: float = PILOT_NOMINAL_HZ,
    min_periods: int = MIN_PERIODS,
    min_dc_s: float | None = None,
) -> PwmStop:
    """Find the first PWM stop after ``after``: the last edge of a run of at least ``min_periods`` periods followed
    by at least ``min_dc_s`` (default 3 nominal periods) without edges.

    A stop counts when its next edge was due after ``after`` (the PWM was still running then), so ``t_s`` may
    precede ``after`` by less than a period: an EVSE that stops within a period of the stimulus. Time a limit to
    ``due_s``.

    Raises:
        AnalysisError: none; the message says whether no PWM ran or it ran to the end of the capture.
    """
    quiet = 3.0 / nominal_hz if min_dc_s is None else min_dc_s
    period = 1.0 / nominal_hz
    e = pilot_edges(w)
    reasons: list[str] = []
    for a, b in _runs(e, 1.5 * period):
        if b - a < 2 * min_periods:
            continue
        t_last = float(e.times[b])
        run = _run_figures(e, a, b, nominal_hz)
        due = t_last + (run.high_s if e.is_rising[b] else run.low_s)
        if due <= after:
            continue
        following = float(e.times[b + 1]) if b + 1 < len(e) else w.end_s
        if following - t_last < quiet:
            if b + 1 >= len(e):
                reasons.append(f"the PWM runs until t={t_last:.6f} s, less than {quiet:g} s before the capture ends")
            continue
        guard = 0.05 * period
        dc = _median_between(w, t_last + guard, min(following, t_last + period) - guard)
        kind: EdgeName = "rising" if e.is_rising[b] else "falling"
        return PwmStop(t_last, due, kind, dc)
    if not reasons:
        reasons = [f"no PWM of {min_periods} periods runs after t={after:.3f} s"]
    raise AnalysisError(f"no PWM stop on {w.channel} after t={after:.3f} s in {w.describe()}: {'; '.join(reasons)}")


def _level_text(w: Waveform) -> str:
    lv = levels(w)
    if lv.swing_v < PILOT_MIN_SWING_V:
        return f"{np.median(w.v):.2f} V"
    return f"{lv.high_v:.2f} V / {lv.low_v:.2f} V"


# ---------------------------------------------------------------------------------------------------- level change
@dataclass(frozen=True)
class LevelChange:
    """Where the pilot's plateau moves from one level to another.

    Attributes:
        t_s: a direct step: where it crosses halfway between the levels (interpolated); a change hidden in a low
            phase of the PWM: where the pilot enters the new level's window at the next rising edge.
        from_v: the old plateau, V (median of its last stretch).
        to_v: the new plateau, V (median of its first stretch).
    """

    t_s: float
    from_v: float
    to_v: float


def _plateau_runs(
    v: FloatArray, from_v: float, to_v: float, tol: float, min_len: int, gap: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Stretches at the from level (label 1) and at the to level (label 2): runs of samples within ``tol``, joined
    across gaps of at most ``gap`` samples (noise), at least ``min_len`` samples long. Returns starts, ends
    (exclusive) and labels."""
    label = np.zeros(v.size, dtype=np.int8)
    label[np.abs(v - from_v) <= tol] = 1
    label[np.abs(v - to_v) <= tol] = 2
    change = np.flatnonzero(label[1:] != label[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [v.size]))
    labels = label[starts]
    keep = labels > 0
    starts, ends, labels = starts[keep], ends[keep], labels[keep]
    if starts.size == 0:
        return starts, ends, labels.astype(np.intp)
    joined = (labels[1:] == labels[:-1]) & (starts[1:] - ends[:-1] <= gap)
    group_start = np.concatenate(([True], ~joined))
    first = np.flatnonzero(group_start)
    last = np.concatenate((first[1:] - 1, [starts.size - 1]))
    starts, ends, labels = starts[first], ends[last], labels[first]
    keep = ends - starts >= min_len
    return starts[keep], ends[keep], labels[keep].astype(np.intp)


def level_change(
    w: Waveform,
    after: float,
    from_v: float,
    to_v: float,
    *,
    tolerance_v: float = 1.0,
    hold_s: float = 2.0 / PILOT_NOMINAL_HZ,
    min_plateau_s: float = 20e-6,
) -> LevelChange:
    """Find where the pilot's plateau moves from ``from_v`` to ``to_v`` after ``after`` (e.g. 9 V -> 6 V, B -> C).

    Only plateaus count: stretches of at least ``min_plateau_s`` within ``tolerance_v`` of a level, so an edge
    passing through a level is not a plateau. The change is the first from-plateau followed by a to-plateau with no
    from-plateau in the next ``hold_s``; it works with the PWM running (the low phases are ignored) and on DC.

    Raises:
        ValueError: the two windows overlap.
        AnalysisError: no such change; the message says where the pilot was.
    """
    if abs(from_v - to_v) <= 2 * tolerance_v:
        raise ValueError(f"levels {from_v:g} V and {to_v:g} V are within 2 x {tolerance_v:g} V of each other")
    dt = w.sample_interval
    min_len = max(3, math.ceil(min_plateau_s / dt))
    gap = max(2, math.ceil(2e-6 / dt))
    hold = math.ceil(hold_s / dt)
    starts, ends, labels = _plateau_runs(w.v, from_v, to_v, tolerance_v, min_len, gap)
    i_after = w.index(after)
    for c in np.flatnonzero((labels[:-1] == 1) & (labels[1:] == 2)) + 1:
        if ends[c] <= i_after:
            continue
        later_from = starts[c + 1 :][labels[c + 1 :] == 1]
        if later_from.size and later_from[0] < starts[c] + hold:
            continue  # back at the from level within the hold time: a glitch
        if not later_from.size and w.v.size - starts[c] < hold:
            continue  # too close to the capture's end to tell
        t_cross = _change_time(w, int(ends[c - 1]) - 1, int(starts[c]), from_v, to_v, tolerance_v)
        if t_cross <= after:
            continue
        return LevelChange(
            t_cross,
            float(np.median(w.v[max(starts[c - 1], ends[c - 1] - hold) : ends[c - 1]])),
            float(np.median(w.v[starts[c] : min(ends[c], starts[c] + hold)])),
        )
    raise AnalysisError(
        f"no change of {w.channel} from {from_v:g} V to {to_v:g} V (+-{tolerance_v:g} V) after t={after:.3f} s "
        f"in {w.describe()}: {_where_it_was(starts, ends, labels, i_after, w, from_v, to_v)}"
    )


def _change_time(w: Waveform, last_from: int, first_to: int, from_v: float, to_v: float, tol: float) -> float:
    v, t = w.v, w.t
    between = v[last_from : first_to + 1]
    if np.all((between >= min(from_v, to_v) - tol) & (between <= max(from_v, to_v) + tol)):
        lo, level, up = last_from, (from_v + to_v) / 2.0, to_v > from_v  # a direct step: halfway
    else:  # the change came during a low phase: where the pilot enters the to window
        lo = first_to - 1
        up = bool(v[lo] < to_v)
        level = to_v - tol if up else to_v + tol
    seg = v[lo : first_to + 1]
    if up:
        hits = np.flatnonzero((seg[:-1] < level) & (seg[1:] >= level))
    else:
        hits = np.flatnonzero((seg[:-1] > level) & (seg[1:] <= level))
    if hits.size == 0:
        return float(t[first_to])
    j = lo + int(hits[-1])
    return float(t[j] + (level - v[j]) / (v[j + 1] - v[j]) * (t[j + 1] - t[j]))


def _where_it_was(
    starts: IntArray, ends: IntArray, labels: IntArray, i_after: int, w: Waveform, from_v: float, to_v: float
) -> str:
    later = labels[ends > i_after]
    if later.size == 0:
        tail = w.window(w.t[min(i_after, w.t.size - 2)], None)
        return f"the pilot is at neither level after it (levels {_level_text(tail)})"
    if later[0] == 2:
        return f"the pilot is already at {to_v:g} V then"
    if np.all(later == 1):
        return f"the pilot stays at {from_v:g} V"
    if later[-1] == 2 and ends[-1] == w.v.size:
        return f"the pilot reaches {to_v:g} V too close to the capture's end to tell it stays"
    return f"the pilot leaves {from_v:g} V only briefly (shorter than the hold time)"
