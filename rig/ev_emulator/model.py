"""The EV's demand: what the emulated vehicle would draw from what the EVSE offers (IEC 61851-1 Annex A)."""

from __future__ import annotations

from dataclasses import dataclass

from rig.ev_emulator.pilot import duty_to_current


@dataclass(frozen=True)
class EvModel:
    """A simple EV: it draws the lesser of what the pilot offers and its own limit, only while it asks to charge.

    Attributes:
        max_current_a: the EV's own limit (on-board charger), A.
        phases: phases it charges on (1 or 3).
    """

    max_current_a: float = 32.0
    phases: int = 1

    def __post_init__(self) -> None:
        if self.max_current_a <= 0:
            raise ValueError(f"EV max current must be > 0 A, got {self.max_current_a}")
        if self.phases not in (1, 3):
            raise ValueError(f"EV phases must be 1 or 3, got {self.phases}")

    def current(self, state: str, duty_pct: float, pwm_on: bool = True) -> float:
        """Return the current the EV draws per phase, A.

        Args:
            state: the EV's CP state (A..E); it draws only in C or D (S2 closed).
            duty_pct: the pilot duty cycle the EVSE sends, %.
            pwm_on: whether the EVSE oscillates (no PWM: nothing offered).
        """
        if state not in ("C", "D") or not pwm_on:
            return 0.0
        return min(duty_to_current(duty_pct), self.max_current_a)

    def power_w(self, state: str, duty_pct: float, voltage_v: float, pwm_on: bool = True) -> float:
        """Return the active power the EV draws at unity power factor, W (all phases)."""
        return self.current(state, duty_pct, pwm_on) * voltage_v * self.phases
