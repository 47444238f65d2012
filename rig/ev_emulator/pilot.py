"""Control pilot arithmetic of IEC 61851-1 (pure functions; no instrument).

* :func:`classify`: CP high/low levels -> state A..F, diode fault, PWM on/off (Table A.4 windows).
* :func:`duty_to_current` / :func:`current_to_duty`: duty cycle <-> maximum current (IEC 61851-1 Table A.8, as the
  Fluke FEV300 and EVerest read it), with :func:`duty_band` naming the non-current bands (no PWM, digital
  communication, invalid). The one implementation in the rig: the suites, the EV model and the virtual bench's plant
  use these.

Sampled waveforms are analysed by :mod:`rig.analysis` (the same code for the virtual and the real scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
