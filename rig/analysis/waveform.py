"""Oscilloscope captures as arrays: the preamble and its scaling, time windows, levels and Schmitt-trigger edges.

A real bench reads a single-shot capture as a preamble and a block of codes (Keysight InfiniiVision
``:WAVeform:PREamble?`` + ``:WAVeform:DATA?``, Rigol DS1000Z ``:WAVeform:PREamble?`` + ``:WAVeform:DATA?``); the
virtual bench synthesises the same :class:`Waveform` (:mod:`rig.analysis.synth`). Everything here is pure: arrays in,
plain dataclasses out, no instrument and no I/O.

Sources of the formulas:

* Keysight InfiniiVision 2000 X / 3000 T / 4000 X Series Programmer's Guide, ``:WAVeform:PREamble`` (the 10 fields,
  their codes) and ``:WAVeform:DATA`` (scaling): voltage = (code - yreference) x yincrement + yorigin,
  time = (index - xreference) x xincrement + xorigin (relative to the trigger).
* Rigol MSO1000Z/DS1000Z Series Programming Guide, ``:WAVeform:PREamble?`` (the same 10 fields, other codes and
  meanings: yorigin is an offset in codes from the vertical reference position) and ``:WAVeform:DATA?``:
  voltage = (code - yorigin - yreference) x yincrement, time = (index - xreference) x xincrement + xorigin.
* ASCii data are volts already in both guides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from rig.errors import RigError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
WaveFormat = Literal["BYTE", "WORD", "ASCII"]
Convention = Literal["keysight", "rigol"]
EdgeKind = Literal["rising", "falling", "either"]


class AnalysisError(RigError, ValueError):
    """A feature looked for is not in the capture; the message names the feature, the channel and the time window.

    Callers turn it into a test failure (the EVSE did not do what the step awaited within the capture).
    """


# ------------------------------------------------------------------------------------------------------ preamble
PREAMBLE_FIELDS = (
    "format",
    "type",
    "points",
    "count",
    "xincrement",
    "xorigin",
    "xreference",
    "yincrement",
    "yorigin",
    "yreference",
)
"""The 10 comma-separated fields of ``:WAVeform:PREamble?``, in order (the same for Keysight and Rigol)."""


@dataclass(frozen=True)
class _Dialect:
    vendor: str
    convention: Convention
    formats: dict[int, WaveFormat]
    types: dict[int, str]


KEYSIGHT = _Dialect(
    "Keysight InfiniiVision :WAVeform:PREamble?",
    "keysight",
    {0: "BYTE", 1: "WORD", 4: "ASCII"},
    {0: "NORMAL", 1: "PEAK", 2: "AVERAGE", 3: "HRESOLUTION"},
)
RIGOL = _Dialect(
    "Rigol DS1000Z :WAVeform:PREamble?",
    "rigol",
    {0: "BYTE", 1: "WORD", 2: "ASCII"},
    {0: "NORMAL", 1: "MAXIMUM", 2: "RAW"},
)


@dataclass(frozen=True)
class Preamble:
    """The scaling of one acquisition, as ``:WAVeform:PREamble?`` reports it.

    Attributes:
        format: data format of ``:WAVeform:DATA?``: BYTE, WORD or ASCII.
        type: acquisition type (Keysight NORMAL/PEAK/AVERAGE/HRESOLUTION, Rigol NORMAL/MAXIMUM/RAW).
        points: number of data points.
        count: averages (1 unless averaging).
        x_increment: time between two samples, s.
        x_origin: time of the reference sample, s (relative to the trigger).
        x_reference: index of the reference sample.
        y_increment: volts per code.
        y_origin: Keysight: volts at the reference code; Rigol: codes from the vertical reference position.
        y_reference: the reference code.
        convention: whose scaling formula applies (``keysight`` or ``rigol``).
    """

    format: WaveFormat
    type: str
    points: int
    count: int
    x_increment: float
    x_origin: float
    x_reference: float
    y_increment: float
    y_origin: float
    y_reference: float
    convention: Convention = "keysight"

    @classmethod
    def from_keysight(cls, text: str) -> Preamble:
        """Parse a Keysight InfiniiVision ``:WAVeform:PREamble?`` answer (formats 0 BYTE, 1 WORD, 4 ASCii).

        Raises:
            ValueError: not 10 fields, a field that is no number, an unknown format/type code, points or count
                below 1, a non-positive increment; the message names the field.
        """
        return _parse_preamble(text, KEYSIGHT)

    @classmethod
    def from_rigol(cls, text: str) -> Preamble:
        """Parse a Rigol DS1000Z ``:WAVeform:PREamble?`` answer (formats 0 BYTE, 1 WORD, 2 ASCii).

        Raises:
            ValueError: as :meth:`from_keysight`.
        """
        return _parse_preamble(text, RIGOL)

    def volts(self, codes: npt.ArrayLike) -> FloatArray:
        """Scale ``:WAVeform:DATA?`` codes to volts with this preamble's vendor formula (ASCII data: unchanged)."""
        c = np.asarray(codes, dtype=np.float64)
        if self.format == "ASCII":
            return c
        if self.convention == "rigol":
            return (c - self.y_origin - self.y_reference) * self.y_increment
        return (c - self.y_reference) * self.y_increment + self.y_origin

    def times(self, n: int | None = None) -> FloatArray:
        """Return the time of each of ``n`` (default: ``points``) samples, s: (index - xreference) x xincrement +
        xorigin (both vendors)."""
        count = self.points if n is None else n
        return (np.arange(count, dtype=np.float64) - self.x_reference) * self.x_increment + self.x_origin


def _parse_preamble(text: str, dialect: _Dialect) -> Preamble:
    answer = text.strip()
    parts = [p.strip() for p in answer.split(",")]
    if len(parts) != len(PREAMBLE_FIELDS):
        raise ValueError(
            f"{dialect.vendor} answer has {len(parts)} comma-separated fields, expected {len(PREAMBLE_FIELDS)} "
            f"({', '.join(PREAMBLE_FIELDS)}): {answer[:120]!r}"
        )

    def where(i: int) -> str:
        return f"{dialect.vendor} field {i + 1} <{PREAMBLE_FIELDS[i]}>"

    values: list[float] = []
    for i, raw in enumerate(parts):
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{where(i)}: {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{where(i)}: {raw!r} is not a finite number")
        values.append(value)

    def integer(i: int, minimum: int) -> int:
        if not values[i].is_integer() or values[i] < minimum:
            raise ValueError(f"{where(i)}: expected an integer >= {minimum}, got {parts[i]!r}")
        return int(values[i])

    def code(i: int, names: Mapping[int, str]) -> str:
        number = integer(i, 0)
        if number not in names:
            known = ", ".join(f"{k} {v}" for k, v in names.items())
            raise ValueError(f"{where(i)}: {number} is not one of its codes ({known})")
        return names[number]

    code(0, dialect.formats)
    fmt = dialect.formats[int(values[0])]
    acq_type = code(1, dialect.types)
    points = integer(2, 1)
    count = integer(3, 1)
    positive = [4] if fmt == "ASCII" else [4, 7]  # ASCii data are volts: yincrement is not used
    for i in positive:
        if values[i] <= 0:
            raise ValueError(f"{where(i)}: expected a number > 0, got {parts[i]!r}")
    return Preamble(
        format=fmt,
        type=acq_type,
        points=points,
        count=count,
        x_increment=values[4],
        x_origin=values[5],
        x_reference=values[6],
        y_increment=values[7],
        y_origin=values[8],
        y_reference=values[9],
        convention=dialect.convention,
    )


# ------------------------------------------------------------------------------------------------------ waveform
@dataclass(frozen=True, eq=False)
class Waveform:
    """One channel of a capture: sample times (s, increasing, evenly spaced) and voltages (V).

    Attributes:
        t: sample times, s (a scope's are relative to its trigger).
        v: voltages, V.
        channel: the channel's name in messages (``CP``, ``L1``, ``CH2``).
        sample_interval: time between two samples, s.
    """

    t: FloatArray
    v: FloatArray
    channel: str
    sample_interval: float

    def __post_init__(self) -> None:
        t = np.asarray(self.t, dtype=np.float64)
        v = np.asarray(self.v, dtype=np.float64)
        if t.ndim != 1 or v.ndim != 1 or t.size != v.size:
            raise ValueError(f"{self.channel}: t and v must be 1-D of equal length, got {t.shape} and {v.shape}")
        if t.size < 2:
            raise ValueError(f"{self.channel}: a waveform needs at least 2 samples, got {t.size}")
        if not (math.isfinite(self.sample_interval) and self.sample_interval > 0):
            raise ValueError(f"{self.channel}: sample interval must be > 0 s, got {self.sample_interval}")
        if not np.isfinite(v).all():
            raise ValueError(f"{self.channel}: the voltages contain NaN or infinity")
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "v", v)

    @classmethod
    def from_raw(cls, preamble: Preamble, raw: npt.ArrayLike, channel: str = "CH1") -> Waveform:
        """Scale a ``:WAVeform:DATA?`` block (codes, or volts for ASCII) with its preamble.

        A capture read in several chunks (Rigol RAW reads at most 250 000 BYTE points at a time) is concatenated
        first; ``raw`` must hold the preamble's ``points``.

        Raises:
            ValueError: ``raw`` is not 1-D or its length differs from the preamble's ``points``.
        """
        codes = np.asarray(raw)
        if codes.ndim != 1:
            raise ValueError(f"{channel}: waveform data must be 1-D, got shape {codes.shape}")
        if codes.size != preamble.points:
            raise ValueError(
                f"{channel}: {codes.size} data points but the preamble's <points> is {preamble.points}; read the "
                "preamble and the data of the same acquisition (and join chunked reads first)"
            )
        return cls(preamble.times(codes.size), preamble.volts(codes), channel, preamble.x_increment)

    @classmethod
    def uniform(
        cls, v: npt.ArrayLike, sample_interval: float, *, start_s: float = 0.0, channel: str = "CH1"
    ) -> Waveform:
        """Build a waveform from evenly spaced samples, the first at ``start_s``."""
        volts = np.asarray(v, dtype=np.float64)
        t = start_s + np.arange(volts.size, dtype=np.float64) * sample_interval
        return cls(t, volts, channel, sample_interval)

    @property
    def start_s(self) -> float:
        """Get the time of the first sample, s."""
        return float(self.t[0])

    @property
    def end_s(self) -> float:
        """Get the time of the last sample, s."""
        return float(self.t[-1])

    @property
    def duration_s(self) -> float:
        """Get the span from the first to the last sample, s."""
        return self.end_s - self.start_s

    def describe(self) -> str:
        """Name the capture for messages: ``a 0.500 s capture (t=-0.100..0.400 s)``."""
        return f"a {self.duration_s:.3f} s capture (t={self.start_s:.3f}..{self.end_s:.3f} s)"

    def index(self, t_s: float) -> int:
        """Return the index of the first sample at or after ``t_s`` (``len`` when none is)."""
        return int(np.searchsorted(self.t, t_s, side="left"))

    def window(self, start_s: float | None = None, end_s: float | None = None) -> Waveform:
        """Return the samples with ``start_s <= t <= end_s`` (a view; ``None``: the capture's start / end).

        Raises:
            AnalysisError: fewer than 2 samples in the window.
        """
        lo = 0 if start_s is None else self.index(start_s)
        hi = self.t.size if end_s is None else int(np.searchsorted(self.t, end_s, side="right"))
        if hi - lo < 2:
            a = self.start_s if start_s is None else start_s
            b = self.end_s if end_s is None else end_s
            raise AnalysisError(
                f"the window t={a:.6f}..{b:.6f} s holds {max(hi - lo, 0)} samples of {self.channel} "
                f"in {self.describe()}"
            )
        if lo == 0 and hi == self.t.size:
            return self
        return Waveform(self.t[lo:hi], self.v[lo:hi], self.channel, self.sample_interval)


def windowed(w: Waveform, window: tuple[float, float] | None) -> Waveform:
    """Return ``w`` cut to ``window`` (start, end in s), or ``w`` itself when ``window`` is None."""
    return w if window is None else w.window(window[0], window[1])


# -------------------------------------------------------------------------------------------------------- levels
LEVEL_SAMPLES = 400_000
"""Level estimates use at most about this many samples (evenly strided): a statistic, not a timing."""


@dataclass(frozen=True)
class Levels:
    """The two levels a capture sits at (like the scopes' top and base).

    Attributes:
        high_v: median of the samples above the split, V.
        low_v: median of the samples at or below it, V.
    """

    high_v: float
    low_v: float

    @property
    def swing_v(self) -> float:
        """Get high minus low, V."""
        return self.high_v - self.low_v

    @property
    def middle_v(self) -> float:
        """Get the level halfway between, V."""
        return (self.high_v + self.low_v) / 2.0


def levels(w: Waveform) -> Levels:
    """Estimate the high and low levels: a split halfway between the 0.05th and 99.95th percentiles, moved three
    times to the middle of the two clusters' medians. A DC capture gives two levels a few noise sigmas apart."""
    x = w.v[:: max(1, w.v.size // LEVEL_SAMPLES)]
    lo, hi = (float(p) for p in np.percentile(x, [0.05, 99.95]))
    high, low = hi, lo
    split = (lo + hi) / 2.0
    for _ in range(3):
        above, below = x[x > split], x[x <= split]
        if above.size == 0 or below.size == 0:
            break
        high, low = float(np.median(above)), float(np.median(below))
        split = (high + low) / 2.0
    return Levels(high, low)


# --------------------------------------------------------------------------------------------------------- edges
@dataclass(frozen=True, eq=False)
class Edges:
    """Edges found by a Schmitt trigger, each timed where it crosses its middle level (linear interpolation).

    Attributes:
        times: every edge, s, in order.
        is_rising: per edge, True for a rising one.
        lower_v: the Schmitt trigger's lower threshold, V.
        upper_v: its upper threshold, V.
        initial_high: the state before the first edge (None: the signal never left the hysteresis band).
        start_s: start of the searched window, s.
        end_s: end of the searched window, s.
        channel: the channel searched.
    """

    times: FloatArray
    is_rising: BoolArray
    lower_v: float
    upper_v: float
    initial_high: bool | None
    start_s: float
    end_s: float
    channel: str

    @property
    def rising(self) -> FloatArray:
        """Get the rising edges' times, s."""
        return self.times[self.is_rising]

    @property
    def falling(self) -> FloatArray:
        """Get the falling edges' times, s."""
        return self.times[~self.is_rising]

    def __len__(self) -> int:
        return int(self.times.size)


def edges(
    w: Waveform,
    lower_v: float | None = None,
    upper_v: float | None = None,
    *,
    middle_v: float | None = None,
    window: tuple[float, float] | None = None,
    min_swing_v: float = 1.0,
    fractions: tuple[float, float] = (0.25, 0.75),
) -> Edges:
    """Find rising and falling edges with hysteresis.

    A rising edge is the first sample at or above ``upper_v`` after one at or below ``lower_v`` (falling: the
    reverse), so noise inside the band makes no edge. Each edge is timed where it crosses its middle level, by linear
    interpolation between the two samples around the crossing: ``middle_v`` if given, else halfway between the
    plateaus on either side of that edge (the mean of the middle half of each), which is the 50 % point a scope
    measures delays at even when the plateaus differ from edge to edge (a pilot at 9 V then 6 V).

    Args:
        w: the capture.
        lower_v: lower threshold, V (default: ``fractions[0]`` of the way from the low to the high level of
            :func:`levels`).
        upper_v: upper threshold, V (default: ``fractions[1]`` of the way).
        middle_v: the level edges are timed at, V (default: per edge, as above).
        window: only samples in (start, end), s.
        min_swing_v: with default thresholds, a capture whose levels are closer than this is DC: no edges.
        fractions: where the default thresholds sit between the low and the high level.

    Raises:
        ValueError: ``lower_v`` above ``upper_v``.
    """
    part = windowed(w, window)
    if lower_v is None or upper_v is None:
        lv = levels(part)
        if lv.swing_v < min_swing_v:
            return _no_edges(part, lv.middle_v, lv.middle_v, None)
        lower_v = lv.low_v + fractions[0] * lv.swing_v if lower_v is None else lower_v
        upper_v = lv.low_v + fractions[1] * lv.swing_v if upper_v is None else upper_v
    if lower_v > upper_v:
        raise ValueError(f"{w.channel}: lower threshold {lower_v} V is above the upper threshold {upper_v} V")
    return _schmitt_edges(part, lower_v, upper_v, middle_v)


def _no_edges(w: Waveform, lower_v: float, upper_v: float, initial: bool | None) -> Edges:
    return Edges(np.empty(0), np.empty(0, dtype=np.bool_), lower_v, upper_v, initial, w.start_s, w.end_s, w.channel)


def _schmitt_edges(w: Waveform, lower_v: float, upper_v: float, middle_v: float | None) -> Edges:
    v, t = w.v, w.t
    decided = np.full(v.size, -1, dtype=np.int8)
    decided[v <= lower_v] = 0
    decided[v >= upper_v] = 1
    where = np.flatnonzero(decided >= 0)
    if where.size == 0:
        return _no_edges(w, lower_v, upper_v, None)
    state = decided[where]
    change = np.flatnonzero(state[1:] != state[:-1]) + 1
    initial = bool(state[0])
    if change.size == 0:
        return _no_edges(w, lower_v, upper_v, initial)
    first_new = where[change]  # first decided sample of the new state
    last_old = where[change - 1]  # last decided sample of the old state
    rising = state[change] == 1
    if middle_v is None:
        plateau = _plateau_means(v, first_new, last_old, int(where[0]), int(where[-1]))
        middles = (plateau[:-1] + plateau[1:]) / 2.0
    else:
        middles = np.full(change.size, middle_v)
    times = np.empty(change.size)
    for j in range(change.size):
        times[j] = _crossing(t, v, int(last_old[j]), int(first_new[j]), float(middles[j]), bool(rising[j]))
    return Edges(times, rising, lower_v, upper_v, initial, w.start_s, w.end_s, w.channel)


def _plateau_means(v: FloatArray, first_new: IntArray, last_old: IntArray, first: int, last: int) -> FloatArray:
    """Mean of the middle half of each decided stretch: before the first edge, between edges, after the last."""
    starts = np.concatenate(([first], first_new))
    ends = np.concatenate((last_old, [last]))  # inclusive
    quarter = (ends - starts) // 4
    a, b = starts + quarter, ends - quarter
    bounds = np.empty(2 * a.size, dtype=np.intp)
    bounds[0::2], bounds[1::2] = a, b + 1  # in order: the stretches do not overlap
    if bounds[-1] >= v.size:
        bounds = bounds[:-1]  # the last stretch runs to the end
    sums = np.add.reduceat(v, bounds)[0::2]
    means: FloatArray = sums / (b + 1 - a)
    return means


def _crossing(t: FloatArray, v: FloatArray, old: int, new: int, middle: float, rising: bool) -> float:
    """Time ``v`` crosses ``middle`` between sample ``old`` (last of the old state) and ``new`` (first of the new one),
    interpolated; if ``middle`` lies outside the thresholds, the crossing nearest to that stretch within 4x its
    length either side."""
    span = max(new - old, 1)
    for lo, hi in ((old, new), (max(old - 4 * span, 0), min(new + 4 * span, v.size - 1))):
        seg = v[lo : hi + 1]
        if rising:
            hits = np.flatnonzero((seg[:-1] < middle) & (seg[1:] >= middle))
        else:
            hits = np.flatnonzero((seg[:-1] > middle) & (seg[1:] <= middle))
        if hits.size:
            # the crossing closest to the old -> new stretch; inside it, the last one
            at = hits + lo
            distance = np.where(at < old, old - at, np.where(at >= new, at - new + 1, 0))
            j = int(at[len(at) - 1 - int(np.argmin(distance[::-1]))])
            v0, v1 = float(v[j]), float(v[j + 1])
            return float(t[j] + (middle - v0) / (v1 - v0) * (t[j + 1] - t[j]))
    return float(t[new])  # the middle level is never crossed nearby: the first sample past the threshold


def first_edge(
    w: Waveform,
    after: float,
    kind: EdgeKind = "either",
    *,
    lower_v: float | None = None,
    upper_v: float | None = None,
    middle_v: float | None = None,
    min_swing_v: float = 1.0,
) -> float:
    """Return the time of the first ``kind`` edge later than ``after``, s (a marker or relay-drive channel).

    Thresholds and timing as :func:`edges` over the whole capture.

    Raises:
        AnalysisError: no such edge after ``after``; the message names the channel and the window.
    """
    found = edges(w, lower_v, upper_v, middle_v=middle_v, min_swing_v=min_swing_v)
    times = {"rising": found.rising, "falling": found.falling, "either": found.times}[kind]
    later = times[times > after]
    if later.size == 0:
        what = "edge" if kind == "either" else f"{kind} edge"
        raise AnalysisError(
            f"no {what} on {w.channel} after t={after:.3f} s in {w.describe()} ({len(found)} edges in all)"
        )
    return float(later[0])


def first_excursion(w: Waveform, after: float, threshold_v: float, *, baseline_v: float = 0.0) -> float:
    """Return when the signal first leaves ``baseline_v`` by ``threshold_v`` or more after ``after``, s (interpolated
    between the two samples around the crossing): the onset of a current or voltage that was absent, whatever the
    phase it starts at (a test current switched in by a relay).

    Raises:
        ValueError: ``threshold_v`` is not > 0.
        AnalysisError: the signal stays within the band after ``after``.
    """
    if not (math.isfinite(threshold_v) and threshold_v > 0):
        raise ValueError(f"threshold_v must be > 0 V, got {threshold_v!r}")
    dev = np.abs(w.v - baseline_v)
    start = w.index(after)
    hits = np.flatnonzero(dev[start:] >= threshold_v)
    if hits.size == 0:
        peak = float(dev[start:].max()) if start < dev.size else 0.0
        raise AnalysisError(
            f"{w.channel} stays within {baseline_v:g} +- {threshold_v:g} V after t={after:.3f} s in {w.describe()} "
            f"(largest deviation {peak:.3g} V)"
        )
    k = start + int(hits[0])
    if k == 0 or k <= start:
        return float(w.t[k])
    d0, d1 = float(dev[k - 1]), float(dev[k])
    frac = (threshold_v - d0) / (d1 - d0) if d1 != d0 else 1.0
    return float(w.t[k - 1] + frac * (w.t[k] - w.t[k - 1]))


def delay(stimulus_t: float, reaction_t: float) -> float:
    """Return the reaction time, s: ``reaction_t - stimulus_t`` (both on the capture's clock).

    Raises:
        AnalysisError: the reaction precedes its stimulus (the analysis found the wrong feature).
    """
    if reaction_t < stimulus_t:
        raise AnalysisError(
            f"the reaction at t={reaction_t:.6f} s precedes its stimulus at t={stimulus_t:.6f} s: "
            "the capture shows another feature than the one awaited"
        )
    return reaction_t - stimulus_t
