"""Control pilot arithmetic of IEC 61851-1 (pure functions; no instrument).

* :func:`classify`: CP high/low levels -> state A..F, diode fault, PWM on/off (Table A.4 windows).
* :func:`duty_to_current` / :func:`current_to_duty`: duty cycle <-> maximum current (IEC 61851-1 Table A.8, as the
  Fluke FEV300 and EVerest read it), with :func:`duty_band` naming the non-current bands (no PWM, digital
  communication, invalid). The one implementation in the rig: the suites, the EV model and the virtual bench's plant
  use these.
* :func:`analyse_waveform`: a sampled pilot (numpy, imported on the first call) -> frequency, duty, high and low
  level, robust to noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

CpState = Literal["A", "B", "C", "D", "E", "F", "invalid"]
DutyBand = Literal["off", "digital", "current", "invalid"]

NOMINAL_HIGH_V: dict[str, float] = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}
"""Nominal CP high level per state, V (EVSE side, after stabilisation)."""

LEVEL_TOLERANCE_V = 1.0
"""Half width of each level window, V (IEC 61851-1 Table A.4 quotes +-1 V; EVerest uses 1.1 V)."""

NOMINAL_LOW_V = -12.0
"""Negative PWM level with a healthy EV diode, V."""

MIN_CURRENT_A = 6.0
"""Lowest current a PWM duty cycle offers, A (10 %; 8..10 % also read as 6 A)."""
MAX_CURRENT_A = 80.0
"""Highest current a PWM duty cycle offers, A (96 %; 96..97 % also read as 80 A)."""
LOW_RANGE_MAX_A = 51.0
"""Upper end of the low range, A: 6..51 A <-> 10..85 % (duty = I / 0.6), above it duty = I / 2.5 + 64."""
LOW_RANGE_A_PER_PCT = 0.6
"""Amps per duty percent in the low range (10..85 %)."""
HIGH_RANGE_A_PER_PCT = 2.5
"""Amps per duty percent in the high range (85..96 %), above :data:`HIGH_RANGE_OFFSET_PCT`."""
HIGH_RANGE_OFFSET_PCT = 64.0
"""Duty offset of the high range, %: I = (D - 64) x 2.5."""


@dataclass(frozen=True)
class PilotClass:
    """A classified pilot: IEC state, whether the PWM runs, whether the EV diode looks shorted.

    Attributes:
        state: A..F, or ``invalid`` when the high level fits no window.
        pwm_on: the EVSE is oscillating (x2 states: A2, B2, C2, D2).
        diode_fault: PWM on in B/C/D but the negative level is not clamped at -12 V.
    """

    state: CpState
    pwm_on: bool
    diode_fault: bool = False

    @property
    def label(self) -> str:
        """Get the IEC sub-state label: ``B2`` (PWM on), ``C1`` (no PWM), ``E``, ``F``, ``invalid``."""
        if self.state in ("A", "B", "C", "D"):
            return f"{self.state}{2 if self.pwm_on else 1}"
        return self.state


def classify(high_v: float, low_v: float, pwm_on: bool, *, tolerance_v: float = LEVEL_TOLERANCE_V) -> PilotClass:
    """Classify a pilot by its levels (IEC 61851-1 Table A.4 windows, +-``tolerance_v`` around 12/9/6/3/0/-12 V).

    Args:
        high_v: the positive (or DC) level, V.
        low_v: the negative level while the PWM runs, V (equal to ``high_v`` for a DC pilot).
        pwm_on: the pilot oscillates.
        tolerance_v: half width of each window, V.

    Returns:
        The state; ``diode_fault`` when the PWM runs in B/C/D and the low level is above -12 V + tolerance
        (shorted diode: the negative half is no longer clamped, about -high_v).
    """
    if abs(high_v) <= tolerance_v and abs(low_v) <= tolerance_v:
        return PilotClass("E", pwm_on=False)
    if abs(high_v - NOMINAL_HIGH_V["F"]) <= tolerance_v:
        return PilotClass("F", pwm_on=False)
    state: CpState = "invalid"
    name: CpState
    for name in ("A", "B", "C", "D"):
        if abs(high_v - NOMINAL_HIGH_V[name]) <= tolerance_v:
            state = name
            break
    diode_fault = pwm_on and state in ("B", "C", "D") and low_v > NOMINAL_LOW_V + tolerance_v
    return PilotClass(state, pwm_on=pwm_on, diode_fault=diode_fault)


def duty_band(duty_pct: float) -> DutyBand:
    """Name what a duty cycle means to the EV (IEC 61851-1 Table A.8).

    ``off``: below 3 % or 100 % (no PWM: E/F or x1 states); ``digital``: 3..7 % (high-level communication
    required, nominal 5 %); ``current``: 8..97 % (a current is offered); ``invalid``: 7..8 % and 97..100 %.

    Raises:
        ValueError: outside 0..100 %.
    """
    if not 0.0 <= duty_pct <= 100.0:
        raise ValueError(f"duty cycle {duty_pct} % is outside 0..100 %")
    if duty_pct < 3.0 or duty_pct >= 99.5:
        return "off"
    if duty_pct <= 7.0:
        return "digital"
    if 8.0 <= duty_pct <= 97.0:
        return "current"
    return "invalid"


def duty_to_current(duty_pct: float) -> float:
    """Return the maximum current a duty cycle offers, A (0 when no current is offered).

    8 % <= D < 10 %: 6 A; 10..85 %: D x 0.6; 85 % < D <= 96 %: (D - 64) x 2.5; 96..97 %: 80 A; every other band
    (no PWM, 5 % digital, invalid): 0 A. Examples: 16 % -> 9.6 A, 25 % -> 15 A, 50 % -> 30 A, 53.3 % -> 32 A,
    85 % -> 51 A, 96 % -> 80 A.

    Raises:
        ValueError: outside 0..100 %.
    """
    if duty_band(duty_pct) != "current":
        return 0.0
    if duty_pct < 10.0:
        return MIN_CURRENT_A
    if duty_pct <= 85.0:
        return duty_pct * LOW_RANGE_A_PER_PCT
    if duty_pct <= 96.0:
        return (duty_pct - HIGH_RANGE_OFFSET_PCT) * HIGH_RANGE_A_PER_PCT
    return MAX_CURRENT_A


def current_to_duty(amps: float) -> float:
    """Return the duty cycle an EVSE must send to offer ``amps``, % (the EVSE-side inverse).

    6..51 A: D = I / 0.6; 51..80 A: D = I / 2.5 + 64. Examples: 6 A -> 10 %, 32 A -> 53.3 %, 80 A -> 96 %.

    Raises:
        ValueError: below 6 A or above 80 A (no duty cycle offers it; use 5 % or stop the PWM).
    """
    if not MIN_CURRENT_A <= amps <= MAX_CURRENT_A:
        raise ValueError(
            f"{amps} A cannot be offered by PWM: IEC 61851-1 duty cycles cover {MIN_CURRENT_A:g}..{MAX_CURRENT_A:g} A"
        )
    if amps <= LOW_RANGE_MAX_A:
        return amps / LOW_RANGE_A_PER_PCT
    return amps / HIGH_RANGE_A_PER_PCT + HIGH_RANGE_OFFSET_PCT


def duty_for_offer(amps: float) -> float | None:
    """Return the duty cycle an EVSE sends for a current limit, % rounded to 0.1 (None: below 6 A, no PWM).

    What charger firmware does with a limit (the virtual EVSE's ``dutyFromCurrent``): :func:`current_to_duty` of the
    limit, an offer above 80 A sent as 80 A.
    """
    if amps < MIN_CURRENT_A:
        return None
    return round(current_to_duty(min(amps, MAX_CURRENT_A)), 1)


@dataclass(frozen=True)
class Waveform:
    """What :func:`analyse_waveform` found in a sampled pilot.

    Attributes:
        frequency_hz: PWM frequency (0 when not oscillating).
        duty_pct: share of each period at the high level, % (100 / 0 for a DC pilot above / below 0 V).
        high_v: the high level, V (median of the high samples).
        low_v: the low level, V (median of the low samples; equals ``high_v`` for DC).
        pwm_on: at least two full periods were seen.
    """

    frequency_hz: float
    duty_pct: float
    high_v: float
    low_v: float
    pwm_on: bool


MIN_SWING_V = 2.0
"""A pilot swinging less than this (2nd..98th percentile) is DC."""


def analyse_waveform(samples: npt.ArrayLike, sample_rate: float, *, min_swing_v: float = MIN_SWING_V) -> Waveform:
    """Measure a sampled pilot: two-level histogram split, Schmitt-trigger edges, whole periods only.

    The split threshold is refined from the 2nd/98th percentiles to the mid point of the two clusters' medians;
    a hysteresis of a quarter of the swing keeps noise from making false edges. Frequency and duty are taken over
    the whole periods between the first and the last rising edge.

    Args:
        samples: pilot voltage samples, V.
        sample_rate: samples per second, Hz.
        min_swing_v: below this peak-to-peak (robust) swing the pilot is DC.

    Raises:
        ValueError: fewer than 8 samples, a non-positive sample rate, or non-finite samples.
    """
    import numpy as np

    x = np.asarray(samples, dtype=float).ravel()
    if x.size < 8:
        raise ValueError(f"need at least 8 samples, got {x.size}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be > 0 Hz, got {sample_rate}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinity")
    p_lo, p_hi = np.percentile(x, [2.0, 98.0])
    if p_hi - p_lo < min_swing_v:
        level = float(np.median(x))
        return Waveform(0.0, 100.0 if level > 0 else 0.0, level, level, pwm_on=False)
    threshold = (p_lo + p_hi) / 2.0
    for _ in range(3):  # move the split to the middle of the two clusters (robust to unequal duty)
        high = float(np.median(x[x > threshold]))
        low = float(np.median(x[x <= threshold]))
        threshold = (high + low) / 2.0
    hysteresis = (high - low) / 4.0
    state = _schmitt(x, threshold + hysteresis / 2.0, threshold - hysteresis / 2.0)
    rising = np.flatnonzero(np.diff(state.astype(np.int8)) == 1) + 1
    if rising.size < 2:
        return Waveform(0.0, float(np.mean(state)) * 100.0, high, low, pwm_on=False)
    first, last = int(rising[0]), int(rising[-1])
    periods = rising.size - 1
    frequency = sample_rate * periods / (last - first)
    duty = float(np.mean(state[first:last])) * 100.0
    return Waveform(float(frequency), duty, high, low, pwm_on=True)


def _schmitt(x: npt.NDArray[np.float64], upper: float, lower: float) -> npt.NDArray[np.bool_]:
    """Binarise with hysteresis (vectorised): above ``upper`` high, below ``lower`` low, between: keep."""
    import numpy as np

    decided = np.full(x.shape, -1, dtype=np.int8)
    decided[x >= upper] = 1
    decided[x <= lower] = 0
    index = np.where(decided >= 0, np.arange(x.size), 0)
    np.maximum.accumulate(index, out=index)  # index of the last decided sample at or before each sample
    filled = decided[index]
    if filled[0] < 0:  # nothing decided before the first decision: take the first decision
        first = int(np.flatnonzero(decided >= 0)[0])
        filled[:first] = decided[first]
    high: npt.NDArray[np.bool_] = filled == 1
    return high
