"""Levels, Schmitt-trigger edges on any channel, a marker's first edge, delays, and the synthesiser's truth."""

from __future__ import annotations

import numpy as np
import pytest

from rig.analysis import AnalysisError, Waveform, delay, edges, first_edge, levels
from rig.analysis.synth import GeneratorStep, piecewise, pilot_steps, smoothing_width, step_capture


def test_levels_of_a_two_level_signal_and_of_dc() -> None:
    rng = np.random.default_rng(1)
    square = np.where(np.arange(100_000) % 1000 < 40, -12.0, 9.0) + rng.normal(0, 0.3, 100_000)  # 4 % low
    lv = levels(Waveform.uniform(square, 1e-6))
    assert (lv.high_v, lv.low_v) == pytest.approx((9.0, -12.0), abs=0.02)
    assert lv.middle_v == pytest.approx(-1.5, abs=0.02)
    dc = levels(Waveform.uniform(5.0 + rng.normal(0, 0.1, 10_000), 1e-6))
    assert dc.swing_v < 0.5


def test_noise_inside_the_hysteresis_band_makes_no_edge() -> None:
    t = np.arange(1000) * 1e-6
    v = np.where(t < 0.0005, 0.0, 5.0) + np.where(np.arange(1000) % 2 == 0, 1.2, -1.2)  # +-1.2 V chatter
    found = edges(Waveform(t, v, "MARK", 1e-6), lower_v=1.5, upper_v=3.5, middle_v=2.5)
    assert found.rising.size == 1 and found.falling.size == 0
    assert found.rising[0] == pytest.approx(0.0005, abs=1e-6)


def test_explicit_thresholds_and_middle() -> None:
    v = np.array([0.0, 0.0, 1.0, 3.0, 5.0, 5.0, 4.0, 2.0, 0.0, 0.0])
    found = edges(Waveform.uniform(v, 1.0), lower_v=1.0, upper_v=4.0, middle_v=2.0)
    assert found.rising == pytest.approx([2.5])  # between 1 V at t=2 and 3 V at t=3
    assert found.falling == pytest.approx([7.0])
    assert found.initial_high is False
    with pytest.raises(ValueError, match=r"lower threshold 4\.0 V is above the upper threshold 1\.0 V"):
        edges(Waveform.uniform(v, 1.0), lower_v=4.0, upper_v=1.0)


def test_a_dc_capture_has_no_edges() -> None:
    rng = np.random.default_rng(2)
    found = edges(Waveform.uniform(rng.normal(0, 0.2, 10_000), 1e-6))
    assert len(found) == 0 and found.initial_high is None


@pytest.mark.parametrize("dt", [1e-6, 1e-7])
def test_a_marker_edge_within_one_sample(dt: float) -> None:
    t_mark = 0.0123456789
    w = step_capture(0.0, 0.03, dt, [(-1.0, 0.0), (t_mark, 5.0)], rise_s=0.5e-6, noise_v=0.05)
    assert first_edge(w, after=0.0, kind="rising") == pytest.approx(t_mark, abs=dt)
    assert first_edge(w, after=0.0) == pytest.approx(t_mark, abs=dt)


def test_no_marker_edge_names_the_channel_and_window() -> None:
    w = step_capture(0.0, 0.5, 1e-5, [(-1.0, 0.0), (0.1, 5.0)], noise_v=0.05)
    with pytest.raises(AnalysisError) as caught:
        first_edge(w, after=0.2, kind="falling")
    assert str(caught.value) == (
        "no falling edge on MARK after t=0.200 s in a 0.500 s capture (t=0.000..0.500 s) (1 edges in all)"
    )


def test_delay() -> None:
    assert delay(0.1, 0.25) == pytest.approx(0.15)
    assert delay(0.1, 0.1) == 0.0
    with pytest.raises(AnalysisError, match=r"reaction at t=0\.100000 s precedes its stimulus at t=0\.200000 s"):
        delay(0.2, 0.1)


# ------------------------------------------------------------------------------------------- the synthesiser's truth
def test_area_sampling_puts_a_jump_between_samples() -> None:
    """A jump from 0 to 1 V a quarter of the way into sample 2's interval: sample 2 is 0.75 V, no smoothing."""
    v = piecewise(0.0, 1.0, 5, [(-10.0, 0.0), (1.75, 1.0)])
    assert v == pytest.approx([0.0, 0.0, 0.75, 1.0, 1.0])


def test_smoothing_keeps_the_jump_halfway_at_its_instant() -> None:
    dt, t_jump = 1e-7, 0.5e-3 + 0.37e-7
    v = piecewise(0.0, dt, 10_000, [(-1.0, -12.0), (t_jump, 9.0)], rise_s=10e-6)
    t = np.arange(v.size) * dt
    j = int(np.flatnonzero(v >= -1.5)[0])
    crossing = t[j - 1] + (-1.5 - v[j - 1]) / (v[j] - v[j - 1]) * dt
    assert crossing == pytest.approx(t_jump, abs=dt / 100)
    ten, ninety = t[np.flatnonzero(v >= -12 + 2.1)[0]], t[np.flatnonzero(v >= -12 + 18.9)[0]]
    assert ninety - ten == pytest.approx(10e-6, rel=0.05)
    assert smoothing_width(10e-6, dt) % 2 == 1


def test_pilot_steps_combine_generator_and_ev() -> None:
    gen = [GeneratorStep(0.0, "dc"), GeneratorStep(0.001, "pwm", 25.0), GeneratorStep(0.003, "negative")]
    steps = pilot_steps(gen, [(0.0, 12.0), (0.0021, 6.0)], 0.004)
    expected = [(0.0, 12.0), (0.00125, -12.0), (0.002, 12.0), (0.0021, 6.0), (0.00225, -12.0)]  # F: already -12 V
    assert np.array(steps) == pytest.approx(np.array(expected))


def test_a_generator_step_cuts_the_high_phase_it_falls_in() -> None:
    gen = [GeneratorStep(0.0, "pwm", 50.0), GeneratorStep(0.0012, "negative"), GeneratorStep(0.0031, "dc")]
    steps = pilot_steps(gen, [(0.0, 9.0)], 0.004)
    assert np.array(steps) == pytest.approx(
        np.array([(0.0, 9.0), (0.0005, -12.0), (0.001, 9.0), (0.0012, -12.0), (0.0031, 9.0)])
    )
