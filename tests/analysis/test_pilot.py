"""The pilot analysis on synthesised captures with a known truth: +-12 V PWM at 1 kHz with 2..10 us edges and
Gaussian noise, state changes, PWM start and stop (IEC 61851-1 Annex A levels)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rig.analysis import (
    PILOT_STATE_LEVELS,
    AnalysisError,
    first_pwm_start,
    level_change,
    pilot_edges,
    pilot_state_by_level,
    pwm_present,
    pwm_stats,
    pwm_stop,
)
from rig.analysis.synth import GeneratorStep, pilot_capture

PERIOD = 1e-3
PHASE = -0.000_123_4  # the generator's periods start here (+ k ms): not on the sample grid


def pwm(duty: float, *, start: float = PHASE, frequency: float = 1000.0) -> GeneratorStep:
    return GeneratorStep(start, "pwm", duty, frequency)


def truth_edges(start: float, duty: float, lo: float, hi: float, period: float = PERIOD) -> tuple[np.ndarray, ...]:
    k = np.arange(np.floor((lo - start) / period), np.ceil((hi - start) / period) + 1)
    rising = start + k * period
    falling = rising + duty / 100 * period
    return rising[(rising > lo) & (rising < hi)], falling[(falling > lo) & (falling < hi)]


# ----------------------------------------------------------------------------------------------------- PWM figures
@pytest.mark.parametrize("duty", [10.0, 16.0, 26.7, 53.3, 85.0, 96.0])
@pytest.mark.parametrize("rise_s", [2e-6, 10e-6])
def test_duty_frequency_and_levels_with_noise(duty: float, rise_s: float) -> None:
    rng = np.random.default_rng(round(duty * 10 + rise_s * 1e6))
    w = pilot_capture(0.0, 0.05, 0.5e-6, [pwm(duty)], [(-1.0, 9.0)], rise_s=rise_s, noise_v=0.2, rng=rng)
    stats = pwm_stats(w)
    assert stats.duty_pct == pytest.approx(duty, abs=0.2)
    assert stats.frequency_hz == pytest.approx(1000.0, rel=1e-3)
    assert stats.high_v == pytest.approx(9.0, abs=0.05)
    assert stats.low_v == pytest.approx(-12.0, abs=0.05)
    assert stats.periods == 49  # 50 ms with the periods' edges inside
    assert stats.high_samples > 0.4 * duty / 100 * w.v.size
    assert stats.low_samples > 0.4 * (1 - duty / 100) * w.v.size
    assert pilot_state_by_level(stats.high_v) == "B"


def test_duty_is_measured_in_the_window_only() -> None:
    """B2 at 16 % then, from 30 ms, C2 at 53.3 %: each window reads its own duty and level."""
    gen = [pwm(16.0), pwm(53.3, start=0.030 + PHASE)]
    w = pilot_capture(0.0, 0.06, 1e-6, gen, [(-1.0, 9.0), (0.030 + PHASE, 6.0)], rise_s=5e-6, noise_v=0.1)
    first, second = pwm_stats(w, (0.0, 0.029)), pwm_stats(w, (0.031, 0.06))
    assert first.duty_pct == pytest.approx(16.0, abs=0.2)
    assert second.duty_pct == pytest.approx(53.3, abs=0.2)
    assert (pilot_state_by_level(first.high_v), pilot_state_by_level(second.high_v)) == ("B", "C")
    assert (first.start_s, first.end_s) == pytest.approx((0.0, 0.029))


@pytest.mark.parametrize("dt", [1e-6, 1e-7])
def test_edges_are_timed_within_one_sample_interval(dt: float) -> None:
    rng = np.random.default_rng(7)
    w = pilot_capture(0.0, 0.02, dt, [pwm(26.7)], [(-1.0, 6.0)], rise_s=4e-6, noise_v=0.02, rng=rng)
    found = pilot_edges(w)
    rising, falling = truth_edges(PHASE, 26.7, 0.0, 0.02)
    assert found.rising.size == rising.size
    assert found.falling.size == falling.size
    assert np.max(np.abs(found.rising - rising)) <= dt
    assert np.max(np.abs(found.falling - falling)) <= dt
    assert found.initial_high is True  # the capture starts 0.12 ms into a 0.27 ms high phase
    assert not found.is_rising[0]


def test_edges_are_timed_at_each_edges_own_middle() -> None:
    """Plateaus of 12, 9, 6 and 3 V against -12 V: every edge is timed at its own 50 % point (a fixed threshold
    would move the 3 V edges by microseconds)."""
    states = [(-1.0, 12.0), (0.005 + PHASE, 9.0), (0.010 + PHASE, 6.0), (0.015 + PHASE, 3.0)]
    w = pilot_capture(0.0, 0.02, 1e-6, [pwm(50.0)], states, rise_s=10e-6, noise_v=0.02)
    found = pilot_edges(w)
    rising, falling = truth_edges(PHASE, 50.0, 0.0, 0.02)
    assert found.rising.size == rising.size and found.falling.size == falling.size
    assert np.max(np.abs(found.rising - rising)) <= 1e-6
    assert np.max(np.abs(found.falling - falling)) <= 1e-6


@pytest.mark.parametrize(
    ("level", "state"),
    [(12.0, "A"), (11.0, "A"), (9.3, "B"), (8.0, "B"), (6.0, "C"), (3.0, "D"), (0.4, "E"), (-12.0, "F"), (-11.2, "F")],
)
def test_states_by_level(level: float, state: str) -> None:
    assert pilot_state_by_level(level) == state


@pytest.mark.parametrize("level", [10.5, 13.2, 7.4, -6.0])
def test_a_level_between_windows_is_no_state(level: float) -> None:
    with pytest.raises(AnalysisError, match=rf"pilot level of {level:.2f} V is in no state window \(A 11\.\.13 V, B 8"):
        pilot_state_by_level(level)


def test_state_table_is_data_with_nominal_levels_and_one_volt_windows() -> None:
    assert [(r.state, r.nominal_v) for r in PILOT_STATE_LEVELS] == [
        ("A", 12.0), ("B", 9.0), ("C", 6.0), ("D", 3.0), ("E", 0.0), ("F", -12.0),
    ]  # fmt: skip
    assert all(r.max_v - r.nominal_v == r.nominal_v - r.min_v == 1.0 for r in PILOT_STATE_LEVELS)
    strict = tuple(replace(r, min_v=r.nominal_v - 0.5, max_v=r.nominal_v + 0.5) for r in PILOT_STATE_LEVELS)
    with pytest.raises(AnalysisError):
        pilot_state_by_level(9.7, strict)


def test_no_whole_period_names_the_window() -> None:
    w = pilot_capture(0.0, 0.5, 10e-6, [GeneratorStep(-1.0, "dc")], [(-1.0, 9.0)], noise_v=0.1)
    with pytest.raises(AnalysisError) as caught:
        pwm_stats(w, (0.1, 0.2))
    assert str(caught.value) == (
        "no whole PWM period on CP in t=0.100..0.200 s of a 0.500 s capture (t=0.000..0.500 s) "
        "(0 rising and 0 falling edges)"
    )


# ------------------------------------------------------------------------------------------------ PWM or DC
def test_pwm_present_tells_oscillation_from_dc() -> None:
    dc = pilot_capture(0.0, 0.05, 1e-6, [GeneratorStep(-1.0, "dc")], [(-1.0, 9.0)], noise_v=0.3)
    running = pilot_capture(0.0, 0.05, 1e-6, [pwm(50.0)], [(-1.0, 9.0)], noise_v=0.3)
    a_to_f = pilot_capture(0.0, 0.05, 1e-6, [GeneratorStep(-1.0, "dc"), GeneratorStep(0.02, "negative")], [(-1, 12.0)])
    burst = pilot_capture(
        0.0, 0.05, 1e-6, [GeneratorStep(-1.0, "dc"), pwm(50.0, start=0.02), GeneratorStep(0.022, "dc")], [(-1, 9.0)]
    )
    assert pwm_present(running)
    assert not pwm_present(dc)
    assert not pwm_present(a_to_f)
    assert not pwm_present(burst)  # two periods are a burst, not a PWM
    assert pwm_present(running, (0.010, 0.015))
    assert not pwm_present(running, (0.010, 0.0125))


# ------------------------------------------------------------------------------------------------- start and stop
def test_pwm_start_from_b1_is_the_first_falling_edge() -> None:
    """B1 -> B2: the generator starts at t0 with a high phase, so the first visible edge falls at t0 + D x T."""
    t0, dt = 0.1234567, 1e-6
    gen = [GeneratorStep(-1.0, "dc"), pwm(26.7, start=t0)]
    w = pilot_capture(-0.05, 0.3, dt, gen, [(-1.0, 9.0)], rise_s=5e-6, noise_v=0.2, rng=np.random.default_rng(3))
    start = first_pwm_start(w, after=0.0)
    assert start.t_s == pytest.approx(t0 + 0.267 * PERIOD, abs=dt)
    assert start.earliest_s == pytest.approx(t0, abs=dt)  # the first high phase is hidden in the DC before
    assert start.first_edge == "falling"
    assert start.dc_before_v == pytest.approx(9.0, abs=0.05)
    assert start.duty_pct == pytest.approx(26.7, abs=0.2)
    assert start.frequency_hz == pytest.approx(1000.0, rel=1e-3)


def test_pwm_start_from_f_is_the_first_rising_edge() -> None:
    t0, dt = 0.0871234, 2e-7
    gen = [GeneratorStep(-1.0, "negative"), pwm(50.0, start=t0)]
    w = pilot_capture(0.0, 0.12, dt, gen, [(-1.0, 9.0)], rise_s=2e-6, noise_v=0.1)
    start = first_pwm_start(w, after=0.05)
    assert start.t_s == start.earliest_s == pytest.approx(t0, abs=dt)
    assert (start.first_edge, round(start.dc_before_v)) == ("rising", -12)


def test_pwm_start_when_the_pwm_already_runs() -> None:
    w = pilot_capture(0.0, 0.5, 2e-6, [pwm(50.0)], [(-1.0, 9.0)], noise_v=0.1)
    with pytest.raises(AnalysisError) as caught:
        first_pwm_start(w, after=0.120)
    assert str(caught.value) == (
        "no PWM start on CP after t=0.120 s in a 0.500 s capture (t=0.000..0.500 s): "
        "the PWM was already running at t=0.120 s"
    )


def test_pwm_start_when_the_pilot_stays_dc() -> None:
    w = pilot_capture(0.0, 0.5, 2e-6, [GeneratorStep(-1.0, "dc")], [(-1.0, 9.0)], noise_v=0.1)
    expected = r"no PWM start on CP after t=0\.120 s in a 0\.500 s capture .*: the pilot stays DC \(levels 9\.0"
    with pytest.raises(AnalysisError, match=expected):
        first_pwm_start(w, after=0.120)


def test_pwm_start_skips_a_burst_and_a_pause() -> None:
    gen = [
        GeneratorStep(-1.0, "dc"),
        pwm(50.0, start=0.0201),  # 2 periods: a burst
        GeneratorStep(0.0221, "dc"),
        pwm(50.0, start=0.0501),  # the start
        GeneratorStep(0.0701, "dc"),  # a 1.5 ms pause in the running PWM: not a start
        pwm(50.0, start=0.0716),
    ]
    w = pilot_capture(0.0, 0.1, 1e-6, gen, [(-1.0, 9.0)], rise_s=3e-6)
    assert first_pwm_start(w, after=0.0).t_s == pytest.approx(0.0501 + 0.0005, abs=1e-6)
    with pytest.raises(AnalysisError, match=r"the PWM was already running at t=0\.060 s"):
        first_pwm_start(w, after=0.060)


@pytest.mark.parametrize(
    ("t_stop", "last_rise"),
    [
        (0.2001 + PHASE, 0.2 + PHASE),  # in a high phase: the pilot stays high from the period's rising edge
        (0.2006 + PHASE, 0.2006 + PHASE),  # in a low phase: it rises at the stop and stays
    ],
)
def test_pwm_stop_to_b1_is_the_last_rising_edge(t_stop: float, last_rise: float) -> None:
    dt = 1e-6
    gen = [pwm(40.0), GeneratorStep(t_stop, "dc")]
    w = pilot_capture(0.0, 0.3, dt, gen, [(-1.0, 9.0)], rise_s=5e-6, noise_v=0.2)
    stop = pwm_stop(w, after=0.1)
    assert stop.t_s == pytest.approx(last_rise, abs=dt)
    assert stop.due_s == pytest.approx(last_rise + 0.4 * PERIOD, abs=dt)  # the falling edge that did not come
    assert (stop.last_edge, round(stop.dc_after_v)) == ("rising", 9)


def test_pwm_stop_to_f_is_the_falling_edge_at_the_stop() -> None:
    t_stop, dt = 0.2001111, 1e-6
    gen = [pwm(40.0), GeneratorStep(t_stop, "negative")]
    w = pilot_capture(0.0, 0.3, dt, gen, [(-1.0, 6.0)], rise_s=5e-6, noise_v=0.2)
    stop = pwm_stop(w, after=0.1)
    assert stop.t_s == pytest.approx(t_stop, abs=dt)
    assert (stop.last_edge, round(stop.dc_after_v)) == ("falling", -12)


def test_a_stop_within_a_period_of_the_stimulus_counts() -> None:
    """The stimulus comes 0.1 ms into a 0.7 ms high phase and the EVSE stops at once: the last edge precedes the
    stimulus, the falling edge due 0.6 ms after it never comes."""
    stimulus = 0.0401 + PHASE
    gen = [pwm(70.0), GeneratorStep(stimulus + 0.0002, "dc")]
    w = pilot_capture(0.0, 0.08, 1e-6, gen, [(-1.0, 9.0)], rise_s=5e-6, noise_v=0.1)
    stop = pwm_stop(w, after=stimulus)
    assert stop.t_s == pytest.approx(0.040 + PHASE, abs=1e-6)
    assert stop.due_s == pytest.approx(0.0407 + PHASE, abs=1e-6)
    with pytest.raises(AnalysisError, match="no PWM of 3 periods runs after"):
        pwm_stop(w, after=0.0408 + PHASE)


def test_pwm_stop_when_the_pwm_runs_to_the_end() -> None:
    w = pilot_capture(0.0, 0.5, 2e-6, [pwm(50.0)], [(-1.0, 9.0)], noise_v=0.1)
    expected = r"no PWM stop on CP after t=0\.120 s in a 0\.500 s capture .*: the PWM runs until t=0\.49"
    with pytest.raises(AnalysisError, match=expected):
        pwm_stop(w, after=0.120)


def test_pwm_stop_when_no_pwm_runs() -> None:
    w = pilot_capture(0.0, 0.5, 2e-6, [GeneratorStep(-1.0, "dc")], [(-1.0, 9.0)], noise_v=0.1)
    with pytest.raises(AnalysisError, match=r"no PWM of 3 periods runs after t=0\.120 s"):
        pwm_stop(w, after=0.120)


# ---------------------------------------------------------------------------------------------------- level change
def test_b_to_c_during_a_high_phase_is_the_step_itself() -> None:
    t_change, dt = 0.1002345 + PHASE, 1e-6  # 0.23 ms into a 50 % high phase
    w = pilot_capture(0.0, 0.3, dt, [pwm(50.0)], [(-1.0, 9.0), (t_change, 6.0)], rise_s=5e-6, noise_v=0.2)
    change = level_change(w, after=0.05, from_v=9.0, to_v=6.0)
    assert change.t_s == pytest.approx(t_change, abs=dt)
    assert change.from_v == pytest.approx(9.0, abs=0.05)
    assert change.to_v == pytest.approx(6.0, abs=0.05)


def test_b_to_c_during_a_low_phase_shows_at_the_next_rising_edge() -> None:
    t_change, dt, rise = 0.1007345 + PHASE, 1e-6, 5e-6  # in the low phase; the next period rises at 0.101 s
    w = pilot_capture(0.0, 0.3, dt, [pwm(50.0)], [(-1.0, 9.0), (t_change, 6.0)], rise_s=rise, noise_v=0.2)
    change = level_change(w, after=0.05, from_v=9.0, to_v=6.0)
    next_rise = 0.101 + PHASE
    assert next_rise <= change.t_s <= next_rise + rise + dt


def test_c_to_b_is_not_fooled_by_the_edges_crossing_six_volts() -> None:
    t_change, dt = 0.0802 + PHASE, 5e-7  # each falling edge from 9 V spends about a microsecond within 6 +- 1 V
    w = pilot_capture(0.0, 0.12, dt, [pwm(30.0)], [(-1.0, 6.0), (t_change, 9.0)], rise_s=10e-6, noise_v=0.05)
    assert level_change(w, after=0.0, from_v=6.0, to_v=9.0).t_s == pytest.approx(t_change, abs=dt)


def test_a_to_b_on_dc() -> None:
    t_change, dt = 0.0501234, 1e-6
    w = pilot_capture(0.0, 0.1, dt, [GeneratorStep(-1.0, "dc")], [(-1.0, 12.0), (t_change, 9.0)], rise_s=5e-6)
    assert level_change(w, after=0.0, from_v=12.0, to_v=9.0).t_s == pytest.approx(t_change, abs=dt)


def test_c_to_f_is_the_last_falling_edge_into_minus_twelve() -> None:
    t_fault, dt = 0.0602222 + PHASE, 1e-6  # in a high phase: the pilot falls to -12 V and stays
    gen = [pwm(50.0), GeneratorStep(t_fault, "negative")]
    w = pilot_capture(0.0, 0.1, dt, gen, [(-1.0, 6.0)], rise_s=5e-6, noise_v=0.1)
    change = level_change(w, after=0.0, from_v=6.0, to_v=-12.0)
    assert change.t_s == pytest.approx(t_fault, abs=dt)


def test_a_glitch_shorter_than_the_hold_time_is_no_change() -> None:
    states = [(-1.0, 9.0), (0.0502 + PHASE, 6.0), (0.0508 + PHASE, 9.0)]
    w = pilot_capture(0.0, 0.1, 1e-6, [GeneratorStep(-1.0, "dc")], states, rise_s=5e-6)
    with pytest.raises(AnalysisError, match=r"leaves 9 V only briefly"):
        level_change(w, after=0.0, from_v=9.0, to_v=6.0)


@pytest.mark.parametrize(
    ("states", "after", "reason"),
    [
        ([(-1.0, 9.0)], 0.120, "the pilot stays at 9 V"),
        ([(-1.0, 9.0), (0.050, 6.0)], 0.120, "the pilot is already at 6 V then"),
        ([(-1.0, 12.0)], 0.120, "the pilot is at neither level after it (levels 12.00 V / -12.00 V)"),
    ],
)
def test_no_level_change_says_where_the_pilot_was(states: list[tuple[float, float]], after: float, reason: str) -> None:
    w = pilot_capture(0.0, 0.5, 5e-6, [pwm(50.0)], states, rise_s=10e-6, noise_v=0.05)
    with pytest.raises(AnalysisError) as caught:
        level_change(w, after=after, from_v=9.0, to_v=6.0)
    assert str(caught.value) == (
        f"no change of CP from 9 V to 6 V (+-1 V) after t=0.120 s in a 0.500 s capture (t=0.000..0.500 s): {reason}"
    )


def test_overlapping_level_windows_are_refused() -> None:
    w = pilot_capture(0.0, 0.01, 1e-6, [pwm(50.0)], [(-1.0, 9.0)])
    with pytest.raises(ValueError, match="within 2 x 1 V"):
        level_change(w, 0.0, 9.0, 7.5)
