"""``rig bench check --wiring``: switch each EV-emulator channel and compare the pilot with the IEC 61851-1 circuit.

With the EVSE idle its generator holds CP at +12 V through R1 (1 kOhm); the EV side then predicts the level (IEC
61851-1 Table A.4): nothing connected 12 V (A), R2 2.74 kOhm behind the diode 9 V (B), R3 1.3 kOhm added 6 V (C),
270 Ohm added 3 V (D), CP shorted to PE 0 V (E), PE interrupted 12 V (no return path). The EV diode, the PP coding
resistors and the residual-current paths do not change a positive DC pilot: for them the check shows that switching
them leaves state B as it is (so they are not wired into the CP network by mistake) and, on a relay instrument,
that the relay reads back closed. The diode itself is checked under PWM by HIL-DIODE.

Every step is a bounded wait on the pilot meter; the emulator is released (state A, everything open) at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rig.bench.mains import NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
from rig.errors import ConfigError
from rig.ev_emulator.channels import (
    CABLE_CHANNELS,
    CP_CONNECT,
    DIODE_BYPASS,
    PE_BREAK,
    RCD_AC_30MA,
    RCD_DC_6MA,
    STATE_CHANNELS,
)
from rig.ev_emulator.pilot import LEVEL_TOLERANCE_V, NOMINAL_HIGH_V
from rig.instruments.capabilities import AcSource

if TYPE_CHECKING:
    from rig.bench.bench import Bench
    from rig.ev_emulator import EvEmulator

SETTLE_S = 3.0
"""How long the pilot may take to show a switched channel (relay operate time, the EVSE's filtering), s."""
POWER_UP_S = 30.0
"""How long an EVSE just given mains may take to hold its pilot at +12 V, s."""


@dataclass(frozen=True)
class WiringStep:
    """One check: what is switched (channel names), how, and the CP state the circuit predicts."""

    label: str
    channels: tuple[str, ...]
    apply: Callable[[EvEmulator], None]
    expected: str


def closed(state: str) -> tuple[str, ...]:
    """The channels closed in ``state``."""
    return tuple(sorted(STATE_CHANNELS[state]))


def _steps() -> list[WiringStep]:
    def state(s: str) -> Callable[[EvEmulator], None]:
        return lambda ev: ev.set_state(s)

    def then(first: str, fn: Callable[[EvEmulator], None]) -> Callable[[EvEmulator], None]:
        def run(ev: EvEmulator) -> None:
            ev.set_state(first)
            fn(ev)

        return run

    steps = [
        WiringStep("state A: every CP relay open", closed("A"), state("A"), "A"),
        WiringStep("state B: CP connected to R2 behind the diode", closed("B"), state("B"), "B"),
        WiringStep("state C: S2 with R3 1.3 kOhm", closed("C"), state("C"), "C"),
        WiringStep("state D: S2 with 270 Ohm", closed("D"), state("D"), "D"),
        WiringStep("state E: CP shorted to PE", closed("E"), state("E"), "E"),
        WiringStep("PE interrupted in state B", (CP_CONNECT, PE_BREAK), then("B", lambda ev: ev.pe_break(True)), "A"),
        WiringStep(
            "EV diode shorted in state B (no effect on a positive pilot)",
            (CP_CONNECT, DIODE_BYPASS),
            then("B", lambda ev: ev.diode_fault(True)),
            "B",
        ),
        WiringStep(
            "30 mA AC residual-current path in state B (no effect on CP)",
            (CP_CONNECT, RCD_AC_30MA),
            then("B", lambda ev: ev.residual_current(ac_30ma=True)),
            "B",
        ),
        WiringStep(
            "6 mA DC residual-current path in state B (no effect on CP)",
            (CP_CONNECT, RCD_DC_6MA),
            then("B", lambda ev: ev.residual_current(dc_6ma=True)),
            "B",
        ),
    ]

    def cable(amps: int) -> Callable[[EvEmulator], None]:
        return then("B", lambda ev: ev.set_cable(amps))

    for amps, channel in CABLE_CHANNELS.items():
        steps.append(
            WiringStep(
                f"PP coding for a {amps} A cable in state B (no effect on CP)",
                (CP_CONNECT, channel),
                cable(amps),
                "B",
            )
        )
    return steps


def _wait_level(ev: EvEmulator, expected: str, timeout_s: float) -> float:
    """Read the pilot until it is within the tolerance of ``expected``'s level or ``timeout_s``; the last level."""
    deadline = time.monotonic() + timeout_s
    while True:
        level = ev.pilot().reading.high_v
        if abs(level - NOMINAL_HIGH_V[expected]) <= LEVEL_TOLERANCE_V or time.monotonic() >= deadline:
            return level
        time.sleep(0.05)


def check_wiring(bench: Bench, out: Callable[[str], None]) -> list[str]:
    """Run every wiring step on the bench's EV emulator; print one line per step; return the failed steps.

    Raises:
        ConfigError: the bench has no EV emulator.
    """
    ev = bench.ev_emulator
    if ev is None:
        raise ConfigError("rig bench check --wiring: rig.yaml has no ev_emulator section to check")
    wiring = ev.wiring
    failures: list[str] = []
    try:
        ev.release_all()
        found = bench.first(AcSource)
        if found is not None:
            source: AcSource = found[1]
            source.set_voltage(NOMINAL_MAINS_V)
            source.set_frequency(NOMINAL_MAINS_HZ)
            source.set_output(True)
            out(f"wiring: AC source {found[0]!r} on at {NOMINAL_MAINS_V:g} V {NOMINAL_MAINS_HZ:g} Hz (EVSE powered)")
        level = _wait_level(ev, "A", POWER_UP_S)
        if abs(level - NOMINAL_HIGH_V["A"]) > LEVEL_TOLERANCE_V:
            failures.append("state A")
            out(
                f"wiring: FAIL the idle EVSE's pilot reads {level:.2f} V with every relay open, not "
                f"{NOMINAL_HIGH_V['A']:g} V: is the EVSE powered and idle, and CP wired to the pilot meter?"
            )
            return failures
        for step in _steps():
            missing = [c for c in step.channels if wiring and c not in wiring]
            if missing:
                out(f"wiring: skip  {step.label}: channel {', '.join(missing)} not wired")
                continue
            ev.release_all()
            step.apply(ev)
            level = _wait_level(ev, step.expected, SETTLE_S)
            want = NOMINAL_HIGH_V[step.expected]
            if not wiring:
                relays = "board"
            else:
                relays = ", ".join(f"{c} relay {wiring[c]}" for c in step.channels) or "no relay closed"
            readback = ""
            if ev.relays is not None:
                open_ = [c for c in step.channels if not ev.relays.relay(wiring[c])]
                if open_:
                    readback = f"; relay of {', '.join(open_)} reads back open"
            ok = abs(level - want) <= LEVEL_TOLERANCE_V and not readback
            if not ok:
                failures.append(step.label.split(":")[0])
            out(
                f"wiring: {'ok  ' if ok else 'FAIL'}  {step.label} ({relays}): pilot {level:.2f} V, predicted "
                f"{want:g} V +- {LEVEL_TOLERANCE_V:g} V (state {step.expected}){readback}"
            )
    finally:
        ev.release_all()
    return failures
