"""IEC 61851-1 pilot arithmetic: classification windows, duty <-> current, waveform analysis."""

from __future__ import annotations

import numpy as np
import pytest

from rig.ev_emulator.pilot import analyse_waveform, classify, current_to_duty, duty_band, duty_to_current


# ------------------------------------------------------------------------------------------- classification
@pytest.mark.parametrize(
    ("high", "low", "pwm", "label"),
    [
        (12.0, 12.0, False, "A1"),
        (11.2, -12.0, True, "A2"),
        (9.0, 9.0, False, "B1"),
        (8.98, -12.0, True, "B2"),
        (9.9, -11.5, True, "B2"),
        (6.0, 6.0, False, "C1"),
        (5.99, -12.0, True, "C2"),
        (2.93, -12.0, True, "D2"),
        (3.0, 3.0, False, "D1"),
        (0.0, 0.0, False, "E"),
        (0.4, -0.5, True, "E"),
        (-12.0, -12.0, False, "F"),
        (-11.3, -11.3, False, "F"),
        (10.5, -12.0, True, "invalid"),
        (7.5, 7.5, False, "invalid"),
        (4.5, -12.0, True, "invalid"),
    ],
)
def test_classify_windows(high: float, low: float, pwm: bool, label: str) -> None:
    result = classify(high, low, pwm)
    assert result.label == label
    assert not result.diode_fault


@pytest.mark.parametrize(("high", "state"), [(8.8, "B"), (6.0, "C"), (3.0, "D")])
def test_classify_diode_fault_when_low_not_clamped(high: float, state: str) -> None:
    result = classify(high, -high, True)
    assert result.state == state and result.diode_fault


def test_no_diode_fault_without_pwm_or_in_a() -> None:
    assert not classify(9.0, -9.0, False).diode_fault
    assert not classify(12.0, -8.0, True).diode_fault


def test_classify_tolerance_is_a_parameter() -> None:
    assert classify(10.05, 10.05, False).state == "invalid"
    assert classify(10.05, 10.05, False, tolerance_v=1.1).state == "B"


# ------------------------------------------------------------------------------------------ duty <-> current
@pytest.mark.parametrize(
    ("duty", "amps"),
    [
        (16, 9.6),
        (25, 15.0),
        (50, 30.0),
        (53.3, 32.0),
        (85, 51.0),
        (90, 65.0),
        (96, 80.0),
        (96.5, 80.0),
        (10, 6.0),
        (8, 6.0),
        (9.9, 6.0),
    ],
)
def test_duty_to_current(duty: float, amps: float) -> None:
    assert duty_to_current(duty) == pytest.approx(amps, abs=0.05)


@pytest.mark.parametrize(
    ("duty", "band"),
    [
        (0, "off"),
        (2.9, "off"),
        (5, "digital"),
        (3, "digital"),
        (7.5, "invalid"),
        (8, "current"),
        (97, "current"),
        (98, "invalid"),
        (100, "off"),
    ],
)
def test_duty_bands_offer_no_current_outside_8_to_97(duty: float, band: str) -> None:
    assert duty_band(duty) == band
    if band != "current":
        assert duty_to_current(duty) == 0.0


@pytest.mark.parametrize("duty", [-1.0, 100.5])
def test_duty_out_of_range(duty: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100 %"):
        duty_to_current(duty)


@pytest.mark.parametrize(
    ("amps", "duty"), [(6, 10.0), (16, 26.67), (24, 40.0), (32, 53.33), (51, 85.0), (63, 89.2), (80, 96.0)]
)
def test_current_to_duty(amps: float, duty: float) -> None:
    assert current_to_duty(amps) == pytest.approx(duty, abs=0.01)


@pytest.mark.parametrize("amps", [5.9, 0, 80.1])
def test_current_to_duty_refuses_what_pwm_cannot_offer(amps: float) -> None:
    with pytest.raises(ValueError, match=r"6\.\.80 A"):
        current_to_duty(amps)


@pytest.mark.parametrize("amps", [6, 9.6, 13, 16, 20, 32, 40, 51, 55, 63, 70, 80])
def test_round_trip(amps: float) -> None:
    assert duty_to_current(current_to_duty(amps)) == pytest.approx(amps)


# -------------------------------------------------------------------------------------------- waveforms
RATE = 200_000.0


def pwm(
    duty: float,
    *,
    freq: float = 1000.0,
    high: float = 9.0,
    low: float = -12.0,
    noise: float = 0.3,
    n: int = 20_000,
    phase: float = 0.37,
    seed: int = 7,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    ph = (t * freq + phase) % 1.0
    return np.where(ph < duty / 100.0, high, low) + rng.normal(0.0, noise, n)


@pytest.mark.parametrize("duty", [5.0, 10.0, 16.0, 25.0, 50.0, 53.3, 85.0, 96.0])
@pytest.mark.parametrize("freq", [985.0, 1000.0, 1012.0])
def test_analyse_pwm_with_noise(duty: float, freq: float) -> None:
    w = analyse_waveform(pwm(duty, freq=freq, noise=0.5, phase=0.123), RATE)
    assert w.pwm_on
    assert w.frequency_hz == pytest.approx(freq, rel=0.002)
    assert w.duty_pct == pytest.approx(duty, abs=0.5)
    assert w.high_v == pytest.approx(9.0, abs=0.05)
    assert w.low_v == pytest.approx(-12.0, abs=0.05)


def test_analyse_spikes_do_not_make_edges() -> None:
    x = pwm(25.0, noise=0.2)
    rng = np.random.default_rng(3)
    spikes = rng.choice(x.size, 40, replace=False)
    x[spikes] += rng.choice([-4.0, 4.0], 40)  # spikes smaller than half the swing
    w = analyse_waveform(x, RATE)
    assert w.frequency_hz == pytest.approx(1000.0, rel=0.002)
    assert w.duty_pct == pytest.approx(25.0, abs=0.5)


def test_analyse_diode_fault_levels() -> None:
    w = analyse_waveform(pwm(50.0, high=8.8, low=-8.8), RATE)
    assert (round(w.high_v, 1), round(w.low_v, 1)) == (8.8, -8.8)
    assert classify(w.high_v, w.low_v, w.pwm_on).diode_fault


@pytest.mark.parametrize(("level", "duty"), [(12.0, 100.0), (9.0, 100.0), (-12.0, 0.0)])
def test_analyse_dc_pilot(level: float, duty: float) -> None:
    w = analyse_waveform(np.full(4000, level) + np.random.default_rng(1).normal(0, 0.2, 4000), RATE)
    assert not w.pwm_on and w.frequency_hz == 0.0 and w.duty_pct == duty
    assert w.high_v == pytest.approx(level, abs=0.05) and w.low_v == w.high_v


def test_analyse_single_step_is_not_pwm() -> None:
    x = np.concatenate([np.full(1000, 9.0), np.full(1000, -12.0)])
    assert not analyse_waveform(x, RATE).pwm_on


def test_analyse_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        analyse_waveform(np.zeros(3), RATE)
    with pytest.raises(ValueError, match="sample rate"):
        analyse_waveform(np.zeros(100), 0)
    with pytest.raises(ValueError, match="NaN"):
        analyse_waveform(np.array([np.nan] * 10), RATE)
