"""Relay banks, pilot capture and the Keysight DAQ970A-style SCPI server (docs/bench-protocols.md §3, §3.2).

``RelayBank`` and ``EdgeLog`` are shared with the Modbus relay/IO module: a relay wired to a channel name (the EV
emulator's wiring, e.g. ``{"cp_connect": 1, "s2_c": 2}``) drives the plant's EV-side switch of that name; unwired
relays only keep their state. Analog inputs: 1 = CP high level, 2 = CP low level, 3 = CP mean (duty-weighted), others
read 0 V.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from rig.sim.plant import SWITCHES, Plant, PlantEdge
from rig.sim.scpi import ScpiServer, fmt

RISE_TAU_S = 0.8e-6  # first-order edge: 10-90 % rise ≈ 1.8 µs (IEC 61851-1 allows ≤ 2 µs)
NOISE_V = 0.005
MAX_WAVEFORM_SAMPLES = 20000


class RelayBank:
    """Numbered relays (1-based) wired by channel name to the plant's EV-side switches.

    Args:
        plant: the plant.
        wiring: channel name → relay number.
        count: number of relays.
    """

    def __init__(self, plant: Plant, wiring: dict[str, int] | None, count: int = 16) -> None:
        self.plant = plant
        self.count = count
        self.wiring = {str(k): int(v) for k, v in (wiring or {}).items()}
        for name, relay in self.wiring.items():
            if name not in SWITCHES:
                raise ValueError(f"wiring channel {name!r} is not a plant switch; known: {', '.join(SWITCHES)}")
            if not 1 <= relay <= count:
                raise ValueError(f"wiring channel {name!r}: relay {relay} outside 1..{count}")
        self.by_relay = {v: k for k, v in self.wiring.items()}
        self.closed = [False] * (count + 1)

    def set(self, changes: dict[int, bool]) -> None:
        """Set relays (1-based) at one instant and apply the wired ones to the plant."""
        plant_changes: dict[str, bool] = {}
        for relay, closed in changes.items():
            if not 1 <= relay <= self.count:
                raise ValueError(f"relay {relay} outside 1..{self.count}")
            self.closed[relay] = bool(closed)
            if relay in self.by_relay:
                plant_changes[self.by_relay[relay]] = bool(closed)
        if plant_changes:
            self.plant.set_switches(plant_changes)

    def open_all(self) -> None:
        """Open every relay."""
        self.set(dict.fromkeys(range(1, self.count + 1), False))


class EdgeLog:
    """A consumer's view of the plant's edge log (cleared independently of other instruments)."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.cleared_ns = plant.now_ns()

    def edges(self) -> list[PlantEdge]:
        """Edges since the last clear, oldest first."""
        return self.plant.edges_after(self.cleared_ns)

    def clear(self) -> None:
        """Forget the edges seen so far."""
        self.cleared_ns = self.plant.now_ns()


def analog_input(plant: Plant, channel: int) -> float:
    """Analog input ``channel`` (1-based), V: 1 CP high, 2 CP low, 3 CP mean, else 0."""
    p = plant.pilot()
    if channel == 1:
        return p.high_v
    if channel == 2:
        return p.low_v
    if channel == 3:
        d = p.duty_pct / 100.0 if p.pwm else 1.0
        return p.high_v * d + p.low_v * (1.0 - d)
    return 0.0


def pilot_waveform(plant: Plant, n: int, rate_hz: float, seed: int | None = None) -> np.ndarray:
    """The last ``n`` samples of the pilot at ``rate_hz``, ending now (V).

    PWM is phase-locked to the EVSE's PWM start; edges are first-order with ``RISE_TAU_S`` and the samples carry 5 mV
    of Gaussian noise. The present pilot state is used for the whole window.
    """
    p = plant.pilot()
    t_end = plant.now_ns()
    t = (t_end - plant.pwm_since_ns) / 1e9 - (np.arange(n - 1, -1, -1) / rate_hz)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, NOISE_V, n)
    if not p.pwm:
        return np.full(n, p.high_v) + noise
    period = 1.0 / p.frequency_hz
    phase = np.mod(t, period)
    t_high = period * p.duty_pct / 100.0
    high = phase < t_high
    since = np.where(high, phase, phase - t_high)
    decay = np.exp(-since / RISE_TAU_S)
    wave = np.where(high, p.high_v + (p.low_v - p.high_v) * decay, p.low_v + (p.high_v - p.low_v) * decay)
    return wave + noise


def parse_channels(arg: str) -> list[int]:
    """Parse an SCPI channel list ``(@101,102)`` / ``(@101:104)``."""
    m = re.search(r"\(@([^)]*)\)", arg)
    if not m:
        raise ValueError(f"no channel list in {arg!r}")
    out: list[int] = []
    for part in m.group(1).split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(a, b + 1))
        elif part.strip():
            out.append(int(part))
    return out


class KeysightDaq970a(ScpiServer):
    """Keysight DAQ970A-style DAQ: 34937A-type relays 101..116, analog inputs 2nn, pilot digitizer 301."""

    vendor = "Keysight Technologies"
    model = "DAQ970A"

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None, wiring: dict[str, int] | None = None):
        params = dict(params or {})
        self.relays = RelayBank(plant, wiring, int(params.get("relays", 16)))
        self.edge_log = EdgeLog(plant)
        self.sample_rate = float(params.get("sample_rate", 200000))
        super().__init__(plant, params)

    def add_handlers(self) -> None:
        """Register §3.2."""
        self.handlers.update(
            {
                "ROUT:CLOS": lambda a: self.relays.set(dict.fromkeys(self._relays(a), True)),
                "ROUT:OPEN": lambda a: self.relays.set(dict.fromkeys(self._relays(a), False)),
                "ROUT:CLOS?": lambda a: ",".join(str(int(self.relays.closed[r])) for r in self._relays(a)),
                "MEAS:VOLT:DC?": lambda a: ",".join(fmt(analog_input(self.plant, c - 200)) for c in self._chans(a, 2)),
                "MEAS:FREQ?": lambda a: self._pilot(a, "freq"),
                "SENS:PWM:DUTY?": lambda a: self._pilot(a, "duty"),
                "SENS:PWM:HIGH?": lambda a: self._pilot(a, "high"),
                "SENS:PWM:LOW?": lambda a: self._pilot(a, "low"),
                "SENS:WAV:SRAT?": lambda _a: fmt(self.sample_rate),
                "SENS:WAV:SRAT": lambda a: setattr(self, "sample_rate", float(a)),
                "FETC:WAV?": self._waveform,
                "SENS:EDGE:COUN?": lambda _a: str(len(self.edge_log.edges())),
                "SENS:EDGE:DATA?": self._edge,
                "SENS:EDGE:CLE": lambda _a: self.edge_log.clear(),
                "SENS:EDGE:TIME?": lambda _a: f"{self.plant.now_ns() / 1e9:.6f}",
            }
        )

    def reset(self) -> None:
        """Open all relays, clear the edge log."""
        self.relays.open_all()
        self.edge_log.clear()

    def _chans(self, arg: str, slot: int) -> list[int]:
        chans = parse_channels(arg)
        if any(c // 100 != slot for c in chans):
            raise ValueError(f"channels {chans} not in slot {slot}")
        return chans

    def _relays(self, arg: str) -> list[int]:
        return [c - 100 for c in self._chans(arg, 1)]

    def _pilot(self, arg: str, what: str) -> str:
        self._chans(arg, 3)
        p = self.plant.pilot()
        value = {"freq": p.frequency_hz, "duty": p.duty_pct, "high": p.high_v, "low": p.low_v}[what]
        return fmt(value)

    def _waveform(self, arg: str) -> str:
        chans, _, count = arg.rpartition(",")
        self._chans(chans, 3)
        n = int(count)
        if not 1 <= n <= MAX_WAVEFORM_SAMPLES:
            raise ValueError(f"sample count {n} outside 1..{MAX_WAVEFORM_SAMPLES}")
        wave = pilot_waveform(self.plant, n, self.sample_rate)
        return ",".join(f"{v:.4f}" for v in wave)

    def _edge(self, arg: str) -> str:
        edges = self.edge_log.edges()
        e = edges[int(arg)]
        return f"{e.signal},{e.t_ns / 1e9:.6f},{e.level}"


def duty_from_waveform(wave: np.ndarray, rate_hz: float) -> tuple[float, float, float, float]:
    """Analyse a sampled pilot (as a bench user would): (frequency Hz, duty %, high V, low V)."""
    hi, lo = float(np.percentile(wave, 95)), float(np.percentile(wave, 5))
    if hi - lo < 1.0:
        return 0.0, 100.0 if hi > 0 else 0.0, hi, lo
    high = wave > (hi + lo) / 2
    rises = np.flatnonzero(~high[:-1] & high[1:])
    if len(rises) < 2:
        return 0.0, float(high.mean() * 100), hi, lo
    span = rises[-1] - rises[0]
    freq = (len(rises) - 1) * rate_hz / span
    duty = float(high[rises[0] : rises[-1]].mean() * 100)
    return freq, duty, hi, lo
