"""The virtual scope on the virtual bench: the real keysight_infiniivision driver captures the plant's pilot and EVSE
output through the bench's server, and rig.analysis finds the PWM start and the contactor close where the plant
recorded them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import pytest

from rig.analysis import Preamble, Waveform, ac_gate, first_pwm_start
from rig.instruments import registry
from rig.instruments.capabilities import CaptureSetup, SignalSetup, TriggerSetup
from rig.instruments.keysight_infiniivision import KeysightInfiniiVision
from rig.sim.plant import PWM_HZ, Plant
from rig.sim.scope_signals import PlantSignals, channel_numbers
from rig.sim.virtual_bench import SpecError, VirtualBench

CHANNELS = {
    "cp": {"channel": 1, "probe": 10},
    "evse_output": {"channel": 2, "probe": 100},
    "ac_source": {"channel": 3, "probe": 100},
}
DUTY_PCT = 53.3  # 32 A
POINTS = 200_000  # 1 us: the 2 us pilot edges span samples, so edges interpolate (duty to 0.2 pp)
T = TypeVar("T")


class BenchThread:
    """A :class:`VirtualBench` serving a scope role on the real clock, in its own thread and asyncio loop."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.bench = VirtualBench(spec)
        self.ready: dict[str, Any] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="virtual-bench", daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.ready = await self.bench.start()
        self._started.set()
        await self._stop.wait()
        await self.bench.stop()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the bench's loop (the plant is not thread-safe); return its result."""
        assert self.loop is not None

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=5)

    def call_at(self, t_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn()`` on the bench's loop once the plant clock (the loop's clock) reads ``t_ns``."""
        assert self.loop is not None
        loop = self.loop
        loop.call_soon_threadsafe(lambda: loop.call_at(t_ns / 1e9, fn))

    def __enter__(self) -> BenchThread:
        self._thread.start()
        assert self._started.wait(10), "virtual bench did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.loop is not None and self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def bench() -> Iterator[BenchThread]:
    spec = {
        "plant": {"ac_on": True, "ac_voltage": 230.0, "ac_frequency": 50.0},
        "roles": {"scope": {"driver": "keysight_infiniivision", "params": {"channels": CHANNELS}}},
    }
    with BenchThread(spec) as thread:
        yield thread


def open_scope(bench: BenchThread) -> KeysightInfiniiVision:
    where = bench.ready["roles"]["scope"]
    resource = f"TCPIP0::{where['host']}::{where['port']}::SOCKET"
    transport = registry.make_transport("visa", "scope", resource=resource, timeout_s=5.0)
    scope = registry.make_instrument(
        "scope", "keysight_infiniivision", transport, channels=CHANNELS, points=POINTS, poll_s=0.02
    )
    assert isinstance(scope, KeysightInfiniiVision)
    return scope


def read(scope: KeysightInfiniiVision, signal: str) -> tuple[Preamble, np.ndarray]:
    text, raw = scope.read_raw(signal)
    return Preamble.from_keysight(text), raw


def edge_ns(plant: Plant, signal: str) -> int:
    found = [e.t_ns for e in plant.edges if e.signal == signal]
    assert len(found) == 1, f"{signal}: {found}"
    return found[0]


def test_pwm_start_and_contactor_close_agree_with_the_plant(bench: BenchThread) -> None:
    plant = bench.bench.plant
    bench.call(lambda: plant.set_switches({"cp_connect": True, "s2_c": True}))  # state C: +6 V DC before the PWM
    scope = open_scope(bench)
    try:
        assert scope.identity().model == "DSOX3024T"
        scope.configure(
            CaptureSetup(
                signals=(SignalSetup("cp", 5.0), SignalSetup("evse_output", 100.0)),
                time_scale_s_div=0.02,  # 200 ms on screen
                time_position_s=0.08,  # from 20 ms before the trigger to 180 ms after it
                trigger=TriggerSetup("cp", 0.0, "falling"),  # the first high phase ends: +6 V -> -12 V
            )
        )
        scope.arm()
        t_arm = plant.now_ns()
        t_pwm = t_arm + 60_000_000
        t_close = t_pwm + 80_000_000
        # the EVSE reports each change 20 ms after it happened, with its own timestamp (as the EVSE link does)
        report = 20_000_000
        bench.call_at(t_pwm + report, lambda: plant.set_evse_outputs("pwm", DUTY_PCT, False, t_pwm))
        bench.call_at(t_close + report, lambda: plant.set_evse_outputs("pwm", DUTY_PCT, True, t_close))
        assert scope.wait_complete(timeout_s=5.0) is True  # a real trigger, not an auto one
        cp = Waveform.from_raw(*read(scope, "cp"), "CP")
        out = Waveform.from_raw(*read(scope, "evse_output"), "EVSE output")
    finally:
        scope.close()

    # the plant's ground truth, and the trigger it implies: the end of the first high phase of the PWM
    assert edge_ns(plant, "PWM_ON") == t_pwm and edge_ns(plant, "CONTACTOR_CLOSED") == t_close
    t_trigger = t_pwm + round(DUTY_PCT / 100 / PWM_HZ * 1e9)
    tolerance = cp.sample_interval + 1e-3
    assert cp.sample_interval == pytest.approx(0.2 / POINTS)

    start = first_pwm_start(cp, cp.start_s)
    assert start.first_edge == "falling" and start.dc_before_v == pytest.approx(6.0, abs=0.3)
    assert start.earliest_s == pytest.approx((t_pwm - t_trigger) / 1e9, abs=tolerance)
    assert start.t_s == pytest.approx(0.0, abs=tolerance)
    assert start.duty_pct == pytest.approx(DUTY_PCT, abs=0.2)
    assert start.frequency_hz == pytest.approx(PWM_HZ, rel=0.002)

    gate = ac_gate(out, 50.0)
    assert not gate.initially_on and gate.on_rms_v == pytest.approx(230.0, rel=0.02)
    assert gate.first_on(out.start_s) == pytest.approx((t_close - t_trigger) / 1e9, abs=tolerance)
    assert gate.first_on(out.start_s) - start.earliest_s == pytest.approx((t_close - t_pwm) / 1e9, abs=tolerance)


def test_signals_follow_the_history_not_the_present_state() -> None:
    """A sample time in the past shows the state recorded then (an EVSE report arriving late included)."""
    from tests.sim.manual_clock import ManualClock

    clock = ManualClock()
    plant = Plant(clock=clock)
    plant.ac_on = True
    plant.restart_signal_history()
    signals = PlantSignals(plant, channel_numbers(CHANNELS), cp_rise_s=0.0)
    t0 = clock.now_ns()
    clock.advance(0.010)
    plant.set_evse_outputs("pwm", 25.0, False, t0 + 5_000_000)  # reported 5 ms late
    clock.advance(0.010)
    plant.set_evse_outputs("pwm", 25.0, True)
    t = (t0 + np.array([1e6, 5.1e6, 5.4e6, 15.5e6, 25.1e6])) / 1e9  # s on the plant clock
    cp = signals(1, t)
    assert cp.tolist() == pytest.approx([12.0, 12.0, -12.0, -12.0, 12.0])  # +12 V DC, then the 25 % PWM
    out, source = signals(2, t), signals(3, t)
    assert np.all(out[:4] == 0.0) and abs(out[4]) > 1.0  # the EVSE output only after the contactor closed
    assert np.all(np.abs(source) <= 230.0 * np.sqrt(2) + 1e-9) and np.any(np.abs(source) > 1.0)
    assert np.all(signals(4, t) == 0.0)  # an input with nothing mapped to it


def test_a_signal_the_plant_does_not_have_is_refused() -> None:
    spec = {"roles": {"scope": {"driver": "keysight_infiniivision", "params": {"channels": {"pp": {"channel": 1}}}}}}
    with pytest.raises(SpecError, match=r"params\.channels\.pp: the virtual bench has no such signal"):
        asyncio.run(VirtualBench(spec).start())


def test_timed_capture_finds_the_stimulus_and_the_reaction(bench: BenchThread) -> None:
    """rig.bench.timing as the HIL cases use it: armed, triggered on the AC source, then B -> C; the EVSE closes its
    contactor 150 ms later (reported 20 ms late): the delay within one sample interval + 1 ms."""
    from rig.bench import timing

    plant = bench.bench.plant
    bench.call(lambda: plant.set_switches({"cp_connect": True}))  # state B
    bench.call(lambda: plant.set_evse_outputs("pwm", DUTY_PCT, False))  # the EVSE offers 32 A
    scope = open_scope(bench)
    switched: list[int] = []

    async def act() -> None:
        def switch() -> None:
            t = plant.now_ns()
            switched.append(t)
            plant.set_switch("s2_c", True)
            bench.call_at(t + 170_000_000, lambda: plant.set_evse_outputs("pwm", DUTY_PCT, True, t + 150_000_000))

        bench.call(switch)

    try:
        plan = timing.CapturePlan("contactor close", ("cp", "evse_output"), 0.4)
        cap = asyncio.run(timing.capture(scope, plan, act))
    finally:
        scope.close()
    assert plan.time_scale_s_div == 0.043 and "trigger ac_source rising through 0 V" in plan.describe()
    tolerance = cap.sample_interval_s + 1e-3
    t_c = timing.cp_change(cap, "B", "C")
    t_on = timing.output_switched(cap, True, t_c)
    assert t_on - t_c == pytest.approx(0.150, abs=tolerance)
    assert "points" in cap.describe()


def test_residual_onset_and_trip() -> None:
    """The residual test current on its shunt (residual_current) starts with the injection and stops when the
    contactor opens: the trip time from the capture."""
    from rig.bench import timing

    spec_channels = {**CHANNELS, "residual_current": {"channel": 4, "probe": 1}}
    spec = {
        "plant": {"ac_on": True, "ac_voltage": 230.0, "ac_frequency": 50.0},
        "roles": {"scope": {"driver": "keysight_infiniivision", "params": {"channels": spec_channels}}},
    }
    with BenchThread(spec) as bench:
        _residual_trip(bench, spec_channels, timing)


def _residual_trip(bench: BenchThread, spec_channels: dict[str, Any], timing: Any) -> None:
    plant = bench.bench.plant
    bench.call(lambda: plant.set_switches({"cp_connect": True, "s2_c": True}))
    bench.call(lambda: plant.set_evse_outputs("pwm", DUTY_PCT, True))
    where = bench.ready["roles"]["scope"]
    transport = registry.make_transport("visa", "scope", resource=f"TCPIP0::{where['host']}::{where['port']}::SOCKET")
    scope = registry.make_instrument(
        "scope", "keysight_infiniivision", transport, channels=spec_channels, points=POINTS
    )

    async def act() -> None:
        def inject() -> None:
            t = plant.now_ns()
            plant.set_switch("rcd_ac_30ma", True)
            bench.call_at(t + 60_000_000, lambda: plant.set_evse_outputs("pwm", DUTY_PCT, False, t + 40_000_000))

        bench.call(inject)

    try:
        cap = asyncio.run(
            timing.capture(scope, timing.CapturePlan("trip", ("residual_current", "evse_output"), 0.3), act)
        )
    finally:
        scope.close()
    t_on = timing.residual_onset(cap)
    t_off = timing.output_switched(cap, False, t_on)
    assert t_off - t_on == pytest.approx(0.040, abs=cap.sample_interval_s + 1e-3)


def test_the_scope_measures_the_pilot(bench: BenchThread) -> None:
    """PilotMeter on the scope: the PWM's frequency, duty and levels; a flat pilot reads frequency 0."""
    plant = bench.bench.plant
    scope = open_scope(bench)
    try:
        flat = scope.pilot()
        assert (flat.frequency_hz, flat.duty_pct) == (0.0, 100.0) and flat.high_v == pytest.approx(12.0, abs=0.3)
        bench.call(lambda: plant.set_switches({"cp_connect": True}))
        bench.call(lambda: plant.set_evse_outputs("pwm", DUTY_PCT, False))
        p = scope.pilot()
    finally:
        scope.close()
    assert p.frequency_hz == pytest.approx(PWM_HZ, rel=0.01)
    assert p.duty_pct == pytest.approx(DUTY_PCT, abs=0.2)
    assert p.high_v == pytest.approx(9.0, abs=0.5) and p.low_v == pytest.approx(-12.0, abs=0.5)
