"""IEC 61851-1 pilot arithmetic: classification windows, duty <-> current, waveform analysis."""

from __future__ import annotations

import pytest

from rig.ev_emulator.pilot import classify, current_to_duty, duty_band, duty_to_current


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
