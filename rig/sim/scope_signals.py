"""What the virtual scope's probes see on the virtual bench: signals drawn from the plant's recorded history.

:class:`PlantSignals` is a :data:`rig.sim.scope.SignalSource` (``source(channel, t) -> volts``, ``t`` in seconds on
the plant clock) evaluated at any sample times from :meth:`rig.sim.plant.Plant.signal_history`, so a record taken
after the fact shows what happened when it happened:

* ``cp``: the control pilot at the EV side. While the EVSE runs its PWM, ±12 V behind R1 at 1 kHz with the EVSE's
  duty, rising edges at ``pwm_since + k / 1 kHz``, the high and low levels as the plant computes them for the EV-side
  switches (:func:`rig.sim.plant.pilot_voltage`); otherwise the DC level. Every edge has a finite 10-90 % rise time
  (:data:`CP_RISE_S`, a moving average like a cable's RC).
* ``evse_output``: the EVSE's output voltage: the mains sine while the contactor is closed, 0 V while it is open.
* ``ac_source``: the AC source's output: a sine at the mains voltage and frequency of the moment (0 V when off), its
  phase counted from the plant's start.
* ``residual_current``: the residual test current the EV emulator injects, as the voltage across the
  :data:`RESIDUAL_SHUNT_OHM` shunt in the injection path: the AC test current flows from the EVSE's output through
  the injection resistor to PE, so it is in phase with the output and stops when the contactor opens; the DC test
  current comes from its own source and flows while its relay is closed.

Channels are assigned by the scope role's channel map (``params.channels``: signal -> ``{channel, probe}``); the
signal names are :data:`SIGNALS`. An input with no signal mapped to it sees 0 V.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from rig.sim.plant import PWM_HZ, Plant, SignalState

FloatArray = npt.NDArray[np.float64]

SIGNALS = ("cp", "evse_output", "ac_source", "residual_current")
"""The plant signals a scope input can be wired to."""
CP_RISE_S = 2e-6
"""10-90 % rise (and fall) time of the pilot edges, s."""
SETTLE_S = 0.03
"""How far the plant's history may still change behind its clock, s: the virtual EVSE reports an output change with
its own timestamp, a few ms old when it arrives (:mod:`rig.sim.evse_link`). The virtual scope triggers and completes
on the history this long behind the clock."""
_RISE_TAPS = 4
RESIDUAL_SHUNT_OHM = 100.0
"""Shunt in the residual-current injection path the scope's residual_current input measures across, ohm (30 mA ->
3 V rms)."""


def channel_numbers(channels: object) -> dict[str, int]:
    """Read a scope role's ``params.channels`` (signal -> ``{channel, probe}``) into signal -> input number.

    Raises:
        ValueError: not such a map, or a signal the plant does not have (names the known ones).
    """
    if channels is None:
        return {}
    if not isinstance(channels, Mapping):
        raise ValueError(f"params.channels must map signal names to {{channel, probe}}, got {channels!r}")
    numbers: dict[str, int] = {}
    for name, entry in channels.items():
        if name not in SIGNALS:
            raise ValueError(
                f"params.channels.{name}: the virtual bench has no such signal; it probes {', '.join(SIGNALS)}"
            )
        number = entry.get("channel") if isinstance(entry, Mapping) else None
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"params.channels.{name}.channel must be a scope input number, got {number!r}")
        numbers[str(name)] = number
    return numbers


class PlantSignals:
    """The plant's signals on the scope inputs of a channel map (a :data:`rig.sim.scope.SignalSource`).

    Args:
        plant: the plant whose history is drawn.
        channels: signal name (:data:`SIGNALS`) -> scope input (1-based).
        cp_rise_s: 10-90 % rise time of the pilot edges, s (0: ideal steps).
    """

    def __init__(self, plant: Plant, channels: Mapping[str, int], *, cp_rise_s: float = CP_RISE_S) -> None:
        unknown = sorted(set(channels) - set(SIGNALS))
        if unknown:
            raise ValueError(f"no plant signal {unknown}; the virtual bench probes {', '.join(SIGNALS)}")
        self.plant = plant
        self.by_input = {number: name for name, number in channels.items()}
        self.cp_rise_s = cp_rise_s

    def now_s(self) -> float:
        """Get the plant clock, s (the virtual scope's clock)."""
        return self.plant.now_ns() / 1e9

    def __call__(self, channel: int, t: FloatArray) -> FloatArray:
        """Volts of the signal on input ``channel`` at the plant times ``t``, s."""
        t = np.asarray(t, dtype=np.float64)
        name = self.by_input.get(channel)
        if name is None or t.size == 0:
            return np.zeros_like(t)
        if name == "cp":
            if self.cp_rise_s <= 0:
                return self._cp(t)
            width = self.cp_rise_s / 0.8  # a moving average over w rises 10-90 % in 0.8 w
            taps = [self._cp(t - k * width / (_RISE_TAPS - 1)) for k in range(_RISE_TAPS)]
            return np.asarray(np.mean(taps, axis=0), dtype=np.float64)
        if name == "residual_current":
            return self._residual(t)
        return self._mains(t, gated=name == "evse_output")

    def _lookup(self, t: FloatArray) -> tuple[list[SignalState], npt.NDArray[np.intp]]:
        """The history from the earliest of ``t``, and per sample the index of the state in force."""
        history = self.plant.signal_history(math.floor(float(t.min()) * 1e9))
        starts = np.array([s.t_ns / 1e9 for s in history], dtype=np.float64)
        return history, np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(history) - 1)

    def _cp(self, t: FloatArray) -> FloatArray:
        history, i = self._lookup(t)
        high = np.array([s.pilot.high_v for s in history])[i]
        low = np.array([s.pilot.low_v for s in history])[i]
        pwm = np.array([s.pilot.pwm for s in history], dtype=bool)[i]
        high_s = np.array([s.pilot.duty_pct / 100.0 / PWM_HZ for s in history])[i]
        since = np.array([s.pwm_since_ns / 1e9 for s in history])[i]
        phase = np.mod(t - since, 1.0 / PWM_HZ)
        return np.where(pwm & (phase >= high_s), low, high).astype(np.float64)

    def _mains(self, t: FloatArray, *, gated: bool) -> FloatArray:
        history, i = self._lookup(t)
        rms = np.array([s.mains_v * (s.contactor or not gated) for s in history], dtype=np.float64)[i]
        hz = np.array([s.mains_hz for s in history], dtype=np.float64)[i]
        t0 = self.plant.t0_ns / 1e9
        return np.asarray(math.sqrt(2.0) * rms * np.sin(2.0 * math.pi * hz * (t - t0)), dtype=np.float64)

    def _residual(self, t: FloatArray) -> FloatArray:
        history, i = self._lookup(t)
        ac_a = np.array([s.residual_ma[0] / 1000.0 * s.contactor * (s.mains_v > 0) for s in history])[i]
        dc_a = np.array([s.residual_ma[1] / 1000.0 for s in history])[i]
        hz = np.array([s.mains_hz for s in history], dtype=np.float64)[i]
        t0 = self.plant.t0_ns / 1e9
        ac = math.sqrt(2.0) * ac_a * np.sin(2.0 * math.pi * hz * (t - t0))
        return np.asarray((ac + dc_a) * RESIDUAL_SHUNT_OHM, dtype=np.float64)
