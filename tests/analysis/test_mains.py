"""When a 50 Hz, 325 V peak output turns on and off (the EVSE's contactor), at any phase, with noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rig.analysis import AnalysisError, Waveform, ac_gate, delay
from rig.analysis.synth import gated_sine

OMEGA = 2 * math.pi * 50.0


def at_phase(t_approx: float, degrees: float, phase_rad: float = 0.0) -> float:
    """The time near ``t_approx`` (after it) where the sine is at ``degrees``."""
    cycle = 1 / 50.0
    target = (math.radians(degrees) - phase_rad) / OMEGA
    return t_approx + (target - t_approx) % cycle


@pytest.mark.parametrize("degrees", [37.0, 90.0, 200.0, 300.0])
def test_on_and_off_at_a_clear_phase_within_one_sample(degrees: float) -> None:
    dt = 2e-6
    t_on, t_off = at_phase(0.1, degrees) + 0.3e-6, at_phase(0.35, degrees + 71.0) + 0.7e-6
    w = gated_sine(0.0, 0.5, dt, [(t_on, t_off)], noise_v=2.0, rng=np.random.default_rng(int(degrees)))
    gate = ac_gate(w)
    assert gate.on_s == pytest.approx((t_on,), abs=dt)
    assert gate.off_s == pytest.approx((t_off,), abs=dt)
    assert gate.initially_on is False
    assert gate.on_rms_v == pytest.approx(325.0 / math.sqrt(2), rel=0.01)
    assert gate.off_rms_v == pytest.approx(2.0, rel=0.1)
    assert gate.frequency_hz == pytest.approx(50.0, abs=0.05)


@pytest.mark.parametrize("degrees", [0.0, 180.0, 2.0, 359.0])
def test_on_and_off_at_a_zero_crossing_within_a_fraction_of_a_millisecond(degrees: float) -> None:
    dt = 1e-6
    t_on, t_off = at_phase(0.1234, degrees), at_phase(0.3456, degrees)
    w = gated_sine(0.0, 0.5, dt, [(t_on, t_off)], noise_v=5.0, rng=np.random.default_rng(int(degrees) + 1))
    gate = ac_gate(w)
    assert gate.on_s == pytest.approx((t_on,), abs=0.3e-3)
    assert gate.off_s == pytest.approx((t_off,), abs=0.3e-3)


def test_several_switchings_and_an_output_on_at_the_start() -> None:
    dt = 5e-6
    on = [(-1.0, 0.0712345), (0.1598765, 0.2404321), (0.3301234, 1.0)]
    w = gated_sine(0.0, 0.45, dt, on, frequency_hz=49.8, phase_rad=1.0, noise_v=1.0)
    gate = ac_gate(w)
    assert gate.initially_on is True
    assert gate.off_s == pytest.approx((0.0712345, 0.2404321), abs=dt)
    assert gate.on_s == pytest.approx((0.1598765, 0.3301234), abs=dt)
    assert gate.frequency_hz == pytest.approx(49.8, abs=0.05)
    assert gate.first_on(after=0.2) == pytest.approx(0.3301234, abs=dt)
    assert gate.first_off(after=0.1) == pytest.approx(0.2404321, abs=dt)


@pytest.mark.parametrize("off_before_s", [0.0015, 0.004, 0.009])
def test_a_switching_on_in_the_first_half_cycle(off_before_s: float) -> None:
    dt = 2e-6
    w = gated_sine(0.0, 0.2, dt, [(off_before_s, 1.0)], noise_v=2.0, phase_rad=0.7)
    gate = ac_gate(w)
    assert gate.initially_on is False
    assert gate.on_s == pytest.approx((off_before_s,), abs=dt)


@pytest.mark.parametrize("on_for_s", [0.0045, 0.0076, 0.015])
def test_a_switching_off_within_the_first_cycle(on_for_s: float) -> None:
    """On for less than a cycle at the start: no whole on-cycle to fit the sine on, only the stretch itself."""
    dt = 1e-6
    w = gated_sine(0.0, 0.2, dt, [(-1.0, on_for_s)], noise_v=2.3, phase_rad=2.0)
    gate = ac_gate(w)
    assert gate.initially_on is True
    assert gate.off_s == pytest.approx((on_for_s,), abs=dt)


def test_contactor_reaction_as_a_delay() -> None:
    dt = 2e-6
    stimulus, reaction = 0.0523, 0.0523 + 0.1876
    w = gated_sine(0.0, 0.4, dt, [(reaction, 1.0)], noise_v=2.0, phase_rad=0.4)
    assert delay(stimulus, ac_gate(w).first_on(stimulus)) == pytest.approx(0.1876, abs=1e-3 + dt)


def test_an_output_off_throughout() -> None:
    w = gated_sine(0.0, 0.2, 10e-6, [], noise_v=2.0)
    gate = ac_gate(w)
    assert (gate.on_s, gate.off_s, gate.initially_on) == ((), (), False)
    assert math.isnan(gate.on_rms_v)
    with pytest.raises(AnalysisError) as caught:
        gate.first_on(after=0.05)
    assert str(caught.value) == (
        "no AC output turn-on on L1 after t=0.050 s in a 0.200 s capture (t=0.000..0.200 s) "
        "(off at the start; no switching)"
    )


def test_no_turn_off_after_the_time_asked() -> None:
    w = gated_sine(0.0, 0.3, 10e-6, [(0.1000123, 1.0)], noise_v=1.0)
    expected = r"no AC output turn-off on L1 after t=0\.050 s .*on at 0\.1000 s, off at never"
    with pytest.raises(AnalysisError, match=expected):
        ac_gate(w).first_off(after=0.05)


def test_a_capture_shorter_than_three_cycles() -> None:
    w = Waveform.uniform(np.zeros(5000), 10e-6, channel="L1")
    with pytest.raises(AnalysisError, match=r"L1: a 0\.050 s capture .* holds 2 cycles of 50 Hz; ac_gate needs at le"):
        ac_gate(w)
