"""Helpers for the HIL cases: bench requirements, charging sessions, pilot and meter measurements, timed captures.

The HIL cases check what only a bench with instruments can check, so they run with the ``emulator`` stimulus only:
in ``trigger`` or ``manual`` mode, or on a bench without the role a case needs, every step is skipped with the
reason (never silently absent).

Reaction times come from single-shot oscilloscope captures (:mod:`rig.bench.timing`): the scope is armed and has
triggered on the AC source's output before the EV emulator or the AC source causes the stimulus, and the stimulus
(a CP level change, the residual test current) and the reaction (the EVSE's output on or off) are both found in the
record by :mod:`rig.analysis`. Each case's capture plan (trigger, timebase, channels) is noted in the report. Whether
the contactor is closed is otherwise read from the bench meter: current flows to the EV only through it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from rig.analysis import delay
from rig.bench.timing import Capture, CapturePlan, analysed, capture
from rig.bench.timing import cp_change as cp_change
from rig.bench.timing import diode_short as diode_short
from rig.bench.timing import output_switched as output_switched
from rig.bench.timing import residual_onset as residual_onset
from rig.ev_emulator.pilot import current_to_duty, duty_to_current
from rig.instruments.capabilities import AcSource, EnergyMeter, WaveformCapture
from rig.matter.eevse import MATTER_EPOCH_OFFSET_S
from rig.steps import StepRunner
from rig.stimulus import Action

DUTY_TOLERANCE_PCT = 0.5
"""IEC 61851-1 pulse-width tolerance: +-5 us of the 1000 us period."""
SETTLE_S = 3.0
"""How long the EVSE gets to bring its pilot to a new limit ("after a few seconds", as the SDK's 2.2 waits 3 s)."""
CLOSE_WITHIN_S = 3.0
"""IEC 61851-1 sequence B2 -> C2: the EVSE closes its contactor within 3 s."""
OPEN_WITHIN_S = 0.100
"""IEC 61851-1 C -> B (or A): the EVSE de-energises within 100 ms."""
RCD_TRIP_S = 0.300
"""Type A RCD at its rated residual current: trip within 300 ms."""
EV_FOLLOW_S = 5.0
"""IEC 61851-1: the EV follows a lowered PWM offer within 5 s."""
METER_CURRENT_TOLERANCE_A = 0.5
"""Meter accuracy and noise allowance on a current comparison, A."""
FLOWING_A = 6.0 - METER_CURRENT_TOLERANCE_A
"""A current at least this much means the contactor is closed and the EV charges (6 A is the least PWM offer), A."""
CONTACTOR_WAIT_S = 5.0
"""How long the meter may take to show the contactor's new state, s."""
RIG_LATENCY_S = 0.3
"""What a capture records beyond a reaction limit: the rig's own time from the trigger to the stimulus (seeing the
trigger, a relay command: tens of ms) and a margin for the analysis to see the reaction settle, s."""


def find_role(bench: Any, capability: type) -> Any:
    """Return the first bench instrument offering ``capability``, or None."""
    found = None if bench is None else bench.first(capability)
    return None if found is None else found[1]


def require_bench(steps: StepRunner, stimulus: Any, bench: Any, *needs: type) -> Any:
    """Skip the whole case (every step, with the reason) unless the run has the emulator and the roles it needs.

    Returns:
        The EV emulator.
    """
    reason = None
    if stimulus.mode != "emulator":
        reason = f"HIL case: needs the emulator stimulus (this run uses {stimulus.mode}; run with --stimulus emulator)"
    elif bench is None or bench.ev_emulator is None:
        reason = "HIL case: the bench has no EV emulator (rig.yaml ev_emulator)"
    else:
        missing = [cap.__name__ for cap in needs if find_role(bench, cap) is None]
        if missing:
            reason = f"HIL case: the bench has no instrument offering {', '.join(missing)} (rig.yaml instruments)"
    if reason:
        steps.skip_remaining(reason)
        pytest.skip(reason)
    return bench.ev_emulator


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking instrument call off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def plug_in(steps: StepRunner, stimulus: Any, events: Any, t_event: float, *, install: bool = True) -> Any:
    """INSTALL (unless done already) + PLUG_IN; wait for EVConnected; return the event."""
    if install:
        await stimulus.apply(Action.INSTALL)
    await stimulus.apply(Action.PLUG_IN)
    ev = await events.wait_for("EVConnected", t_event)
    steps.note(ev.summary())
    return ev


async def start_charging(
    steps: StepRunner, evse: Any, stimulus: Any, events: Any, max_ma: int, until: int | None = None
) -> Any:
    """EnableCharging (until, 6 A, ``max_ma``) then EV demand (state C); wait for EnergyTransferStarted."""
    await evse.enable_charging(until, 6000, max_ma)
    await stimulus.apply(Action.DEMAND)
    ev = await events.wait_for("EnergyTransferStarted", evse.event_timeout_s)
    steps.note(ev.summary())
    return ev


async def wait_current(m: EnergyMeter, *, flowing: bool, what: str, timeout_s: float = CONTACTOR_WAIT_S) -> float:
    """Poll the meter until current flows (``flowing``: at least :data:`FLOWING_A`) or stops (at most
    :data:`METER_CURRENT_TOLERANCE_A`): the contactor closed or open; return the current read then, A.

    Raises:
        AssertionError: not within ``timeout_s``; the message names ``what`` and the last reading.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        amps = float(await call(m.current, 1))
        if (amps >= FLOWING_A) if flowing else (amps <= METER_CURRENT_TOLERANCE_A):
            return amps
        if time.monotonic() >= deadline:
            wanted = f"at least {FLOWING_A:g} A" if flowing else f"at most {METER_CURRENT_TOLERANCE_A:g} A"
            raise AssertionError(
                f"{what}: the meter did not read {wanted} within {timeout_s:g} s (last reading {amps:.3f} A)"
            )
        await asyncio.sleep(0.05)


async def settled_pilot(ev: Any, expected_duty: float | None, timeout_s: float = SETTLE_S) -> Any:
    """Read the pilot until its duty is within tolerance of ``expected_duty`` (None: PWM off) or ``timeout_s``.

    Returns the last reading either way: the measurement that follows judges it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status = await call(ev.pilot)
        if expected_duty is None and not status.pwm_on:
            return status
        if (
            expected_duty is not None
            and status.pwm_on
            and abs(status.reading.duty_pct - expected_duty) <= DUTY_TOLERANCE_PCT
        ):
            return status
        if time.monotonic() >= deadline:
            return status
        await asyncio.sleep(0.05)


async def measure_duty_for(
    steps: StepRunner, evse: Any, ev: Any, limit_ma: int, series: list[Any], label: str
) -> float:
    """MaximumChargeCurrent must be ``limit_ma``; the pilot duty must offer it within the IEC tolerance."""
    deadline = time.monotonic() + SETTLE_S
    while True:  # the DUT gets the plan's few seconds to apply a new limit
        max_ma = int(await evse.read("MaximumChargeCurrent"))
        if max_ma == limit_ma or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    steps.measure(f"MaximumChargeCurrent ({label})", max_ma, "mA", expected=limit_ma)
    duty = round(current_to_duty(limit_ma / 1000), 1)
    status = await settled_pilot(ev, duty)
    series.append((time.time(), status.reading.duty_pct if status.pwm_on else 0.0))
    offered = duty_to_current(status.reading.duty_pct) if status.pwm_on else 0.0
    steps.note(
        f"pilot {status.classified.label}: {status.reading.duty_pct:.1f} % at "
        f"{status.reading.frequency_hz:.0f} Hz = {offered:.2f} A offered"
    )
    steps.measure(
        f"pilot duty ({label})",
        round(status.reading.duty_pct, 2) if status.pwm_on else 0.0,
        "%",
        low=round(duty - DUTY_TOLERANCE_PCT, 2),
        high=round(duty + DUTY_TOLERANCE_PCT, 2),
    )
    return float(status.reading.duty_pct)


def ac_source(bench: Any) -> AcSource:
    """The bench's AC source (checked by :func:`require_bench`)."""
    source = find_role(bench, AcSource)
    assert source is not None
    return source  # type: ignore[no-any-return]


def meter(bench: Any) -> EnergyMeter:
    """The bench's reference energy meter (checked by :func:`require_bench`)."""
    m = find_role(bench, EnergyMeter)
    assert m is not None
    return m  # type: ignore[no-any-return]


def epoch_to_unix(epoch_s: int) -> float:
    """Matter-epoch seconds -> Unix seconds."""
    return float(epoch_s + MATTER_EPOCH_OFFSET_S)


async def fault_event(steps: StepRunner, events: Any, t_event: float, **expected: Any) -> Any:
    """The next event must be Fault with these fields (strict: no EnergyTransferStopped/Started around faults)."""
    from suites.tc_eevse.support import check_event

    ev = await events.next("Fault", t_event)
    return check_event(steps, ev, **expected)


def check_event_fields(steps: StepRunner, event: Any, **expected: Any) -> Any:
    """Require the event's fields to equal ``expected`` (as ``suites.tc_eevse.support.check_event``)."""
    from suites.tc_eevse.support import check_event

    return check_event(steps, event, **expected)


BOOT_BOUND_S = 60.0
"""Bound on the EVSE being reachable over Matter again after its power returned (its boot included)."""
MAINS_BACK_V = 207.0
"""Mains counted as back once the AC source measures at least this (-10 % of 230 V)."""


async def wait_mains_back(source: AcSource, timeout_s: float) -> float:
    """Poll the AC source's voltage until it is back at mains level; return ``time.monotonic()`` then."""
    deadline = time.monotonic() + timeout_s
    while True:
        volts = await call(source.measure_voltage)
        now = time.monotonic()
        if volts >= MAINS_BACK_V:
            return now
        if now > deadline:
            raise AssertionError(
                f"the AC source's output was not back at mains level ({MAINS_BACK_V:g} V) within {timeout_s:g} s: "
                f"it measures {volts:.0f} V"
            )
        await asyncio.sleep(0.05)


async def after_reboot(steps: StepRunner, evse: Any, events: Any, since: float) -> Any:
    """The DUT rebooted (its power back at ``since``, ``time.monotonic()``): re-establish CASE, resubscribe
    ``events`` and recover every event it sent in the gap (``Node.recover_events``: missing event numbers fail the
    case, naming them); the times from ``since`` are step measurements. Return the recovery."""
    recovery = await evse.node.recover_events(events, since=since, timeout_s=BOOT_BOUND_S)
    steps.note(recovery.describe())
    steps.measure("power back -> CASE session", round(recovery.case_s, 3), "s")
    steps.measure("power back -> resubscribed, events recovered", round(recovery.resubscribed_s, 3), "s")
    return recovery


def scope(bench: Any) -> WaveformCapture:
    """The bench's oscilloscope (checked by :func:`require_bench`)."""
    found = find_role(bench, WaveformCapture)
    assert found is not None
    return found  # type: ignore[no-any-return]


async def timed(steps: StepRunner, bench: Any, plan: CapturePlan, act: Any) -> Capture:
    """Capture ``plan`` around ``act`` (an async callable causing the stimulus); note the capture in the report."""
    cap = await capture(scope(bench), plan, act)
    steps.note(cap.describe())
    return cap


def reaction(steps: StepRunner, cap: Capture, name: str, stimulus_t: float, reaction_t: float, high: float) -> float:
    """Measure ``name``: from the stimulus to the reaction (both in the capture), within 0..``high`` s."""
    dt = float(analysed(cap, delay, stimulus_t, reaction_t))
    steps.measure(name, round(dt, 4), "s", low=0.0, high=high)
    return dt
