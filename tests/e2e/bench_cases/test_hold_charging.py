"""BENCH-HOLD: a physical charging session on the bench, held until the run is killed.

Run by ``tests/e2e/test_safe_state.py`` with ``rig run tests/e2e/bench_cases/test_hold_charging.py``: the EV
emulator plugs in a 32 A cable (state B), the TH enables charging over Matter (null, 6 A, 16 A), the EV asks for
energy (state C); the case waits for the contactor to close (current on the meter) and for EnergyTransferStarted,
measures the pilot duty (16 A = 26.7 %), then holds the session until the run is interrupted with SIGTERM or
SIGINT. The e2e test then reads the plant log: the bench must have reached its safe state (AC off, EV in state A,
every relay open, contactor open). Nobody killing it within ``HOLD_S`` fails the case with that message.

It lives outside ``suites/`` so ``make run`` never runs it.
"""

from __future__ import annotations

import asyncio

import pytest

from rig.ev_emulator.pilot import duty_to_current
from rig.steps import TestStep
from tests.e2e.bench_cases.session import MAX_MA, start_charging

pytestmark = [pytest.mark.tc("BENCH-HOLD", "Charging session held until the run is killed")]

EXPECTED_DUTY_PCT = MAX_MA / 1000 / 0.6  # IEC 61851-1: 6..51 A -> duty = I / 0.6 %
DUTY_TOLERANCE_PCT = 0.5  # pulse width +-5 us of 1000 us
HOLD_S = 120.0
HOLDING_MARK = "BENCH-HOLD: charging session established, holding"

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2", "EV emulator: 32 A cable coded on PP, CP state B (plug-in)", "Verify Event EEVSE.S.E00(EVConnected) sent"
    ),
    TestStep(
        "3",
        "TH sends command EnableCharging with ChargingEnabledUntil=NULL, minimumChargeCurrent=6000, "
        "maximumChargeCurrent=16000",
        "Verify DUT responds w/ status SUCCESS(0x00)",
    ),
    TestStep(
        "4",
        "EV emulator: CP state C (EV requests energy)",
        "Contactor-closed edge on the capture and Event EEVSE.S.E02(EnergyTransferStarted) sent",
    ),
    TestStep(
        "5",
        "EV emulator measures the pilot",
        "PWM on, duty 26.7 % (16 A) within +-0.5 % (IEC 61851-1 pulse-width tolerance +-5 us at 1 kHz)",
    ),
    TestStep(
        "6",
        "Hold the charging session until the run is interrupted (SIGTERM / SIGINT)",
        f"The run is killed within {HOLD_S:g} s; the bench then reaches its safe state",
    ),
]


async def test_hold_charging(steps, bench, evse, evse_events) -> None:
    steps.step("1")
    await start_charging(steps, bench, evse, evse_events)
    ev = bench.ev_emulator

    steps.step("5")
    pilot = await asyncio.to_thread(ev.pilot)
    steps.note(
        f"pilot {pilot.classified.label}: high {pilot.reading.high_v:.2f} V, low {pilot.reading.low_v:.2f} V, "
        f"{pilot.reading.frequency_hz:.0f} Hz"
    )
    steps.measure("pilot PWM on", pilot.pwm_on, expected=True)
    steps.measure(
        "pilot duty",
        pilot.reading.duty_pct,
        "%",
        low=round(EXPECTED_DUTY_PCT - DUTY_TOLERANCE_PCT, 2),
        high=round(EXPECTED_DUTY_PCT + DUTY_TOLERANCE_PCT, 2),
    )
    steps.measure(
        "offered current",
        round(duty_to_current(pilot.reading.duty_pct), 2),
        "A",
        low=MAX_MA / 1000 - DUTY_TOLERANCE_PCT * 0.6,
        high=MAX_MA / 1000 + DUTY_TOLERANCE_PCT * 0.6,
    )

    steps.step("6")
    print(HOLDING_MARK, flush=True)
    killed = asyncio.Event()  # nobody sets it: the run is meant to be interrupted while this waits
    try:
        await asyncio.wait_for(killed.wait(), HOLD_S)
    except TimeoutError:
        pytest.fail(
            f"held the charging session for {HOLD_S:g} s and nobody interrupted the run: this case exists to be "
            "killed mid-session (SIGTERM / SIGINT to `rig run`) by tests/e2e/test_safe_state.py"
        )
