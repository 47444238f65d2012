"""The AC output in a capture: when a sinusoidal channel (the EVSE's output behind its contactor, through a
differential probe) turns on and off.

Two steps. The envelope: the RMS (about the capture's offset) of each half cycle, with hysteresis (on at 70 %, off
at 30 % of the largest), finds each switching to within a cycle; half cycles because the RMS of any half period of a
sine is that of a whole one, at twice the resolution. The instant: in those half cycles, the switching sample is
where the capture is best explained by "off" (the offset) on one side and by the sine on the other (least squares,
the sine and its frequency fitted on the whole on half cycles next to it; with none, on the on side of a coarse
split of the switching's own half cycles). That is exact to a sample wherever the sine is clear of the noise, and
near a zero crossing off by no more than the time the sine takes to rise out of the noise (a fraction of a
millisecond at 230 V).

The output must stay on and off for about a cycle each to be seen. At the capture's start the first half cycle is
read against 50 % of the largest RMS (no hysteresis yet): an on stretch of at least a quarter of it (2.5 ms at 50 Hz)
is seen, and when it reads on, an off stretch of at least a millisecond before a switching on is split off too. A
switching in the capture's last, partial half cycle is not seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rig.analysis.waveform import AnalysisError, FloatArray, Waveform

ON_FRACTION = 0.7
"""A half cycle is on at or above this share of the largest half-cycle RMS."""
OFF_FRACTION = 0.3
"""A half cycle is off at or below this share."""
FIT_HALF_CYCLES = 6
"""On half cycles next to a switching that the sine is fitted on."""
FIT_SAMPLES = 20_000
"""At most about this many samples (evenly strided) enter a fit."""


@dataclass(frozen=True)
class AcGate:
    """When an AC output was on.

    Attributes:
        on_s: times it turned on, s.
        off_s: times it turned off, s.
        initially_on: on at the capture's start.
        on_rms_v: median RMS of the on half cycles, V (NaN: never on).
        off_rms_v: median RMS of the off half cycles, V (NaN: never off).
        frequency_hz: measured frequency of the on stretches (the nominal one when too short to measure).
        channel: the channel.
        description: the capture, for messages.
    """

    on_s: tuple[float, ...]
    off_s: tuple[float, ...]
    initially_on: bool
    on_rms_v: float
    off_rms_v: float
    frequency_hz: float
    channel: str
    description: str

    def first_on(self, after: float) -> float:
        """Return the first turn-on later than ``after``, s.

        Raises:
            AnalysisError: none.
        """
        return self._first(self.on_s, "turn-on", after)

    def first_off(self, after: float) -> float:
        """Return the first turn-off later than ``after``, s.

        Raises:
            AnalysisError: none.
        """
        return self._first(self.off_s, "turn-off", after)

    def _first(self, times: tuple[float, ...], what: str, after: float) -> float:
        later = [x for x in times if x > after]
        if later:
            return later[0]
        state = "on" if self.initially_on else "off"
        seen = f"on at {_times(self.on_s)}, off at {_times(self.off_s)}" if self.on_s or self.off_s else "no switching"
        raise AnalysisError(
            f"no AC output {what} on {self.channel} after t={after:.3f} s in {self.description} "
            f"({state} at the start; {seen})"
        )


def _times(values: tuple[float, ...]) -> str:
    return ", ".join(f"{x:.4f}" for x in values) + " s" if values else "never"


def ac_gate(w: Waveform, nominal_hz: float = 50.0, *, min_on_rms_v: float = 10.0) -> AcGate:
    """Find when a sinusoidal channel turns on and off (see the module's description).

    Args:
        w: the capture (at least 3 nominal cycles).
        nominal_hz: the mains frequency, Hz.
        min_on_rms_v: if no half cycle reaches this RMS, V, the output was off throughout.

    Raises:
        AnalysisError: the capture is shorter than 3 cycles.
    """
    n = round(1.0 / (2 * nominal_hz * w.sample_interval))  # samples per half cycle
    blocks = w.v.size // n if n > 0 else 0
    if blocks < 6:
        raise AnalysisError(
            f"{w.channel}: {w.describe()} holds {blocks // 2} cycles of {nominal_hz:g} Hz; ac_gate needs at least 3"
        )
    offset = float(np.median(w.v[:: max(1, w.v.size // 200_000)]))
    rms = np.sqrt(np.mean(np.square(w.v[: blocks * n].reshape(blocks, n) - offset), axis=1))
    top = float(rms.max())
    if top < min_on_rms_v:
        return AcGate((), (), False, math.nan, float(np.median(rms)), nominal_hz, w.channel, w.describe())
    decided = np.full(blocks, -1, dtype=np.int8)
    decided[rms <= OFF_FRACTION * top] = 0
    decided[rms >= ON_FRACTION * top] = 1
    decided[0] = int(rms[0] >= 0.5 * top)
    where = np.flatnonzero(decided >= 0)
    state = decided[where]
    change = np.flatnonzero(state[1:] != state[:-1]) + 1
    initially_on = bool(state[0])
    # each switching: (turning on, last decided block before, first decided block after)
    switchings = [(bool(state[c] == 1), int(where[c - 1]), int(where[c])) for c in change]
    frequencies: list[float] = []
    on_s: list[float] = []
    off_s: list[float] = []
    for i, (turning_on, before, after) in enumerate(switchings):
        if turning_on:  # fit on the on half cycles after it, up to the next switching
            end = switchings[i + 1][1] if i + 1 < len(switchings) else blocks - 1
            fit = (after + 1, min(after + 1 + FIT_HALF_CYCLES, end))
            fallback = after
        else:  # on the on half cycles before it, from the previous switching on
            begin = switchings[i - 1][2] + 1 if i > 0 else 0
            fit = (max(begin, before - FIT_HALF_CYCLES), before)
            fallback = before
        search = (before * n, min((after + 1) * n, w.v.size))
        if fit[1] > fit[0]:
            model, frequency = _fit_sine(w, fit[0] * n, fit[1] * n, nominal_hz)
            t_switch = _switch_time(w, *search, model, turning_on)
        else:  # no whole on half cycle next to it: split coarsely fitting each side, then fit the on side
            split = _coarse_split(w, *search, turning_on, offset, nominal_hz)
            guard = n // 20
            on_side = (split + guard, search[1]) if turning_on else (search[0], split - guard)
            if on_side[1] - on_side[0] < n // 10:
                on_side = (fallback * n, (fallback + 1) * n)
            model, frequency = _fit_sine(w, *on_side, nominal_hz)
            t_switch = _switch_time(w, *search, model, turning_on)
        if frequency is not None:
            frequencies.append(frequency)
        (on_s if turning_on else off_s).append(t_switch)
    if initially_on:  # on from the start, or switched on in the first half cycle after a short off stretch?
        end = switchings[0][1] if switchings else blocks - 1
        if end > 1:
            model, _ = _fit_sine(w, n, min(1 + FIT_HALF_CYCLES, end) * n, nominal_hz)
            t_switch = _switch_time(w, 0, n, model, turning_on=True)
            at = w.index(t_switch)
            off_rms = float(np.sqrt(np.mean(np.square(w.v[:at] - offset)))) if at else math.inf
            if at >= n // 10 and off_rms <= OFF_FRACTION * top:
                initially_on = False
                on_s.insert(0, t_switch)
    on_cycles, off_cycles = rms[decided == 1], rms[decided == 0]
    return AcGate(
        on_s=tuple(on_s),
        off_s=tuple(off_s),
        initially_on=initially_on,
        on_rms_v=float(np.median(on_cycles)) if on_cycles.size else math.nan,
        off_rms_v=float(np.median(off_cycles)) if off_cycles.size else math.nan,
        frequency_hz=float(np.median(frequencies)) if frequencies else nominal_hz,
        channel=w.channel,
        description=w.describe(),
    )


@dataclass(frozen=True)
class _Sine:
    """v = a sin(omega (t - t0)) + b cos(omega (t - t0)) + offset."""

    a: float
    b: float
    offset: float
    omega: float
    t0: float

    def at(self, t: FloatArray) -> FloatArray:
        x = self.omega * (t - self.t0)
        values: FloatArray = self.a * np.sin(x) + self.b * np.cos(x) + self.offset
        return values

    @property
    def amplitude(self) -> float:
        return math.hypot(self.a, self.b)


def _fit_sine(w: Waveform, lo: int, hi: int, nominal_hz: float) -> tuple[_Sine, float | None]:
    """Least-squares sine on samples ``lo:hi``: amplitude, phase and offset at the nominal frequency, then the
    frequency refined by Gauss-Newton steps (kept only if within 10 % of nominal and the stretch spans a cycle)."""
    stride = max(1, (hi - lo) // FIT_SAMPLES)
    t, v = w.t[lo:hi:stride], w.v[lo:hi:stride]
    t0 = float(t[0] + t[-1]) / 2
    omega = 2 * math.pi * nominal_hz
    sine = _linear_fit(t, v, omega, t0)
    if (t[-1] - t[0]) * nominal_hz < 1.0:
        return sine, None
    for _ in range(4):
        x = sine.omega * (t - t0)
        gradient = (t - t0) * (sine.a * np.cos(x) - sine.b * np.sin(x))
        step = float(gradient @ (v - sine.at(t))) / float(gradient @ gradient)
        sine = _linear_fit(t, v, sine.omega + step, t0)
    measured = sine.omega / (2 * math.pi)
    if abs(measured / nominal_hz - 1.0) >= 0.1:
        return _linear_fit(t, v, omega, t0), None
    return sine, measured


def _linear_fit(t: FloatArray, v: FloatArray, omega: float, t0: float) -> _Sine:
    x = omega * (t - t0)
    design = np.column_stack((np.sin(x), np.cos(x), np.ones_like(x)))
    (a, b, offset), *_ = np.linalg.lstsq(design, v, rcond=None)
    return _Sine(float(a), float(b), float(offset), omega, t0)


def _coarse_split(w: Waveform, lo: int, hi: int, turning_on: bool, offset: float, nominal_hz: float) -> int:
    """The best of 40 evenly spaced boundaries in ``lo:hi``, each judged by a sine fitted on its on side and the
    offset on its off side (for an on stretch too short to fit a sine on apart from the switching)."""
    best, best_cost = (lo + hi) // 2, math.inf
    stride = max(1, (hi - lo) // FIT_SAMPLES)
    t, v = w.t[lo:hi:stride], w.v[lo:hi:stride]
    minimum = max(3, t.size // 40)
    for j in range(1, 40):
        k = j * t.size // 40
        on, off = (slice(k, None), slice(None, k)) if turning_on else (slice(None, k), slice(k, None))
        if t[on].size < minimum:
            continue
        sine = _linear_fit(t[on], v[on], 2 * math.pi * nominal_hz, float(t[on][0]))
        cost = float(np.sum((v[on] - sine.at(t[on])) ** 2) + np.sum((v[off] - offset) ** 2))
        if cost < best_cost:
            best, best_cost = lo + k * stride, cost
    return best


def _switch_time(w: Waveform, lo: int, hi: int, model: _Sine, turning_on: bool) -> float:
    """The sample boundary in ``lo:hi`` that best splits "offset" from "sine" (least squares), as a time midway
    between the two samples."""
    lo, hi = max(lo, 0), min(hi, w.v.size)
    t, v = w.t[lo:hi], w.v[lo:hi]
    off_cost = (v - model.offset) ** 2
    on_cost = (v - model.at(t)) ** 2
    before, after = (off_cost, on_cost) if turning_on else (on_cost, off_cost)
    head = np.concatenate(([0.0], np.cumsum(before)))  # cost of samples [0, k) under the first model
    tail = np.concatenate(([0.0], np.cumsum(after)))
    total = head + (tail[-1] - tail)  # + cost of samples [k, end) under the second model
    k = int(np.argmin(total))
    if k == 0:
        return float(t[0] - w.sample_interval / 2)
    if k == t.size:
        return float(t[-1] + w.sample_interval / 2)
    return float((t[k - 1] + t[k]) / 2)
