"""Exact register exchanges of the LabJack T7 pilot meter driver (docs/bench-protocols.md section 6)."""

from __future__ import annotations

from typing import Any

import pytest

from rig.errors import InstrumentError
from rig.instruments import labjack_t7, registry
from rig.instruments.capabilities import Identity, Instrument, PilotMeter, PilotReading
from rig.instruments.labjack_t7 import LabJackT7
from rig.instruments.registers import float32_abcd_encode as f32
from rig.instruments.registers import uint32_hwf_encode as u32
from rig.instruments.scripted import Fail, ScriptedRegisterTransport

ADDR = "192.168.1.207:502/unit1"
IDENTITY = [
    ("fc03", 60000, [0x40E0, 0x0000]),  # PRODUCT_ID 7.0
    ("fc03", 60028, [0x1C03, 0xDA39]),  # SERIAL_NUMBER 470014521
]
CONFIGURE_DIO0_AIN0 = [
    ("fc16", 44000, [0, 0]),  # DIO0_EF_ENABLE = 0
    ("fc06", 44900, 0),  # DIO_EF_CLOCK0_ENABLE = 0
    ("fc06", 44901, 1),  # DIO_EF_CLOCK0_DIVISOR = 1
    ("fc16", 44904, [0, 0]),  # DIO_EF_CLOCK0_ROLL_VALUE = 0 (2**32)
    ("fc16", 44100, [0, 5]),  # DIO0_EF_INDEX = 5, Pulse Width In
    ("fc16", 44200, [0, 0]),  # DIO0_EF_CLOCK_SOURCE = Clock0
    ("fc16", 44300, [0, 0]),  # DIO0_EF_CONFIG_A = 0, continuous
    ("fc16", 44000, [0, 1]),  # DIO0_EF_ENABLE = 1
    ("fc06", 44900, 1),  # DIO_EF_CLOCK0_ENABLE = 1
    ("fc06", 41000, 199),  # AIN0_NEGATIVE_CH = single-ended
    ("fc16", 40000, [0x4120, 0x0000]),  # AIN0_RANGE = 10.0
]
OPEN = IDENTITY + CONFIGURE_DIO0_AIN0
HIGH_TICKS, LOW_TICKS = 42_640, 37_360  # 53.3 % of 1 ms at 80 MHz


def regs(script: list[tuple[str, int, Any]]) -> ScriptedRegisterTransport:
    return ScriptedRegisterTransport(script, role="pilot", address=ADDR)


def opened(script: list[tuple[str, int, Any]], **params: Any) -> tuple[LabJackT7, ScriptedRegisterTransport]:
    """A driver opened on the default wiring (DIO0, AIN0), then playing ``script``; 4 samples per round."""
    t = regs(OPEN + script)
    t7 = LabJackT7("pilot", t, ain_samples=4, **params)
    t7.open()
    return t7, t


RESET = [("fc03", 3100, u32(0))]  # DIO0_EF_READ_A_AND_RESET: the window starts


def ain(*volts: float) -> list[tuple[str, int, Any]]:
    """AIN0 reads answering ``volts`` (at the input, before the divider)."""
    return [("fc03", 0, f32(v)) for v in volts]


def core(ticks: int) -> list[tuple[str, int, Any]]:
    """A CORE_TIMER read."""
    return [("fc03", 61520, u32(ticks))]


def ticks(high: int, low: int) -> list[tuple[str, int, Any]]:
    """DIO0_EF_READ_A (high ticks) then DIO0_EF_READ_B (low ticks)."""
    return [("fc03", 3000, u32(high)), ("fc03", 3200, u32(low))]


def window(
    ain_v: list[float], high: int, low: int, cores: tuple[int, int] = (1_000_000, 1_400_000)
) -> list[tuple[str, int, Any]]:
    """One measurement window of one round: reset, CORE_TIMER, the samples, CORE_TIMER (10 ms later), READ_A/B."""
    return RESET + core(cores[0]) + ain(*ain_v) + core(cores[1]) + ticks(high, low)


PWM_B = [4.49, -6.0, -6.0, 4.49]  # +8.98 / -12 V through the 1:2 divider


# -- open, identity --------------------------------------------------------------------------------------------------
def test_open_identifies_and_configures_in_the_documented_order() -> None:
    t7, t = opened([])
    assert isinstance(t7, Instrument) and isinstance(t7, PilotMeter)
    assert t.is_open and t7.clock_hz == 80e6
    t.assert_done()


def test_open_on_other_lines_range_and_divisor() -> None:
    t = regs(
        [
            *IDENTITY,
            ("fc16", 44002, [0, 0]),
            ("fc06", 44900, 0),
            ("fc06", 44901, 8),
            ("fc16", 44904, [0, 0]),
            ("fc16", 44102, [0, 5]),
            ("fc16", 44202, [0, 0]),
            ("fc16", 44302, [0, 0]),
            ("fc16", 44002, [0, 1]),
            ("fc06", 44900, 1),
            ("fc06", 41003, 199),
            ("fc16", 40006, [0x3F80, 0x0000]),  # AIN3_RANGE = 1.0
            ("fc03", 60000, [0x40E0, 0x0000]),
            ("fc03", 60028, [0x1C03, 0xDA39]),
        ]
    )
    t7 = LabJackT7("pilot", t, dio=1, ain=3, ain_range_v=1.0, clock_divisor=8, ain_divider=20.0)
    t7.open()
    assert t7.clock_hz == 10e6
    assert t7.identity() == Identity("LabJack", "T7", "470014521")
    t.assert_done()


def test_another_product_is_refused_naming_role_address_register_and_answer() -> None:
    t = regs([("fc03", 60000, f32(4.0))])
    with pytest.raises(InstrumentError) as err:
        registry.make_instrument("pilot", "labjack_t7", t)
    message = str(err.value)
    assert "'pilot'" in message and ADDR in message
    assert "PRODUCT_ID (register 60000) reads 4, not 7" in message and "FC03 0xEA60 count=2" in message
    assert not t.is_open  # make_instrument closes what it opened
    t.assert_done()


def test_a_modbus_exception_during_configuration_names_the_request() -> None:
    t = regs([*IDENTITY, ("fc16", 44000, [0, 0]), ("fc06", 44900, Fail())])
    with pytest.raises(InstrumentError, match=r"exception response 2 .*\(last command: FC06 0xAF64 value=0\)"):
        LabJackT7("pilot", t).open()
    t.assert_done()


# -- pilot ----------------------------------------------------------------------------------------------------------
def test_pwm_duty_and_frequency_from_the_ticks_levels_from_the_samples() -> None:
    t7, t = opened(window(PWM_B, HIGH_TICKS, LOW_TICKS))
    reading = t7.pilot()
    assert reading == PilotReading(1000.0, pytest.approx(53.3), pytest.approx(8.98), -12.0, 1_400_000 / 40e6)
    t.assert_done()


def test_a_sample_on_an_edge_does_not_move_the_levels() -> None:
    t7, t = opened(
        window([4.49, -6.0, 1.2, 4.5], HIGH_TICKS, LOW_TICKS)  # one low sample only: another round
        + ain(4.49, -6.0, -6.01, 4.48)
        + core(1_500_000)
        + ticks(HIGH_TICKS, LOW_TICKS)
    )
    reading = t7.pilot()
    assert reading.high_v == pytest.approx(8.98) and reading.low_v == pytest.approx(-12.0)
    assert reading.t_s == 1_500_000 / 40e6
    t.assert_done()


def test_zero_ticks_mean_no_full_period_so_a_dc_pilot() -> None:
    t7, t = opened(
        window([4.49, 4.49, 4.48, 4.49], 0, 0)  # B1: 9 V DC
        + window([-6.0] * 4, 0, 0)  # F: -12 V DC
        + window([0.0] * 4, 0, 0)  # E: 0 V counts as low
        + window([4.49] * 4, HIGH_TICKS, 0)  # one edge seen but no full period yet: still DC
    )
    b1 = t7.pilot()
    assert (b1.frequency_hz, b1.duty_pct, b1.high_v, b1.low_v) == (0.0, 100.0, pytest.approx(8.98), b1.high_v)
    f = t7.pilot()
    assert (f.frequency_hz, f.duty_pct, f.high_v, f.low_v) == (0.0, 0.0, -12.0, -12.0)
    e = t7.pilot()
    assert (e.frequency_hz, e.duty_pct, e.high_v) == (0.0, 0.0, 0.0)
    assert t7.pilot().frequency_hz == 0.0
    t.assert_done()


def test_a_short_window_takes_another_round_of_samples() -> None:
    t7, t = opened(
        RESET
        + core(1_000_000)
        + ain(*PWM_B)
        + core(1_100_000)  # 2.5 ms: shorter than the 5 ms window
        + ain(*PWM_B)
        + core(1_250_000)  # 6.25 ms
        + ticks(HIGH_TICKS, LOW_TICKS)
    )
    assert t7.pilot().t_s == 1_250_000 / 40e6
    t.assert_done()


def test_a_window_that_never_gets_long_enough_raises() -> None:
    t7, t = opened(RESET + core(500) + ain(*[4.49] * 4) + core(600) + ain(*[4.49] * 4) + core(700), ain_max_samples=8)
    with pytest.raises(InstrumentError, match=r"CORE_TIMER advanced 0\.005 ms over 8 analog reads.*ain_max_samples"):
        t7.pilot()
    t.assert_done()


def test_a_pwm_level_not_yet_sampled_takes_more_samples_then_gives_up() -> None:
    t7, t = opened(
        window([-6.0, -6.0, -6.0, 4.49], 4_000, 76_000)  # 5 %: one high sample only, another round
        + ain(-6.0, 4.49, -6.0, -6.0)
        + core(1_800_000)
        + ticks(4_000, 76_000)
        + window([-6.0] * 4, 4_000, 76_000)  # no high sample when the 8 samples are taken
        + ain(*[-6.0] * 4)
        + core(1_800_000)
        + ticks(4_000, 76_000),
        ain_max_samples=8,
    )
    reading = t7.pilot()
    assert reading.duty_pct == pytest.approx(5.0) and reading.high_v == pytest.approx(8.98)
    with pytest.raises(InstrumentError, match=r"DIO0 measured a PWM \(duty 5\.00 %\) but all 8 AIN0 samples show one"):
        t7.pilot()
    t.assert_done()


def test_two_levels_without_a_pwm_period_are_measured_again_then_refused() -> None:
    changing = [4.49, 4.49, -6.0, -6.0]  # the pilot changed during the window
    t7, t = opened(window(changing, 0, 0) + window(PWM_B, HIGH_TICKS, LOW_TICKS))
    assert t7.pilot().duty_pct == pytest.approx(53.3)
    t.assert_done()
    t7, t = opened(window(changing, 0, 0) + window(changing, 0, 0))
    with pytest.raises(InstrumentError, match=r"two levels \(-12\.00 V and 8\.98 V\) in two windows.*drives DIO0"):
        t7.pilot()
    t.assert_done()


@pytest.mark.parametrize("volts", [10.0, -10.2, -9999.0, float("nan")])
def test_an_analog_reading_at_the_end_of_its_range_raises(volts: float) -> None:
    t7, t = opened(RESET + core(0) + ain(volts))
    with pytest.raises(InstrumentError, match=r"AIN0 reads .* V, at or beyond its ±10 V range: the CP \(±20 V"):
        t7.pilot()
    t.assert_done()


def test_a_modbus_exception_while_measuring_raises() -> None:
    t7, t = opened(RESET + core(0) + [("fc03", 0, Fail("Modbus exception 4"))])
    with pytest.raises(InstrumentError, match=r"Modbus exception 4 \(last command: FC03 0x0000 count=2\)"):
        t7.pilot()
    t.assert_done()


def test_core_timer_wraps_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    host = [100.0]
    monkeypatch.setattr(labjack_t7, "_monotonic", lambda: host[0])
    t7, t = opened(
        window(PWM_B, HIGH_TICKS, LOW_TICKS, cores=(0xFFFF_0000, 0x0005_0000))  # wraps inside the window
        + window(PWM_B, HIGH_TICKS, LOW_TICKS, cores=(0x0010_0000, 0x0020_0000))
    )
    first = t7.pilot()
    assert first.t_s == pytest.approx((2**32 + 0x0005_0000) / 40e6)
    host[0] += 322.0  # three wraps (of 107.4 s) later: the host clock tells how many the T7's timer made
    second = t7.pilot()
    assert second.t_s == pytest.approx((4 * 2**32 + 0x0020_0000) / 40e6)
    t.assert_done()


def test_safe_state_disables_the_feature_and_pilot_enables_it_again() -> None:
    t7, t = opened([("fc16", 44000, [0, 0]), ("fc16", 44000, [0, 1]), *window(PWM_B, HIGH_TICKS, LOW_TICKS)])
    t7.safe_state()
    assert t7.pilot().frequency_hz == 1000.0
    t7.close()
    assert not t.is_open
    t.assert_done()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"dio": 2}, "dio must be 0 or 1"),
        ({"dio": True}, "dio must be 0 or 1"),
        ({"ain": 14}, r"ain must be an analog input 0\.\.13"),
        ({"ain_divider": 0}, "ain_divider must be a number > 0"),
        ({"ain_range_v": 5.0}, "ain_range_v must be one of 10.0, 1.0, 0.1, 0.01"),
        ({"clock_divisor": 3}, "clock_divisor must be one of 1, 2, 4, 8, 16, 32, 64, 256"),
        ({"ain_samples": 1}, "ain_samples must be an integer >= 2"),
        ({"ain_max_samples": 4}, r"ain_max_samples must be an integer >= ain_samples \(8\)"),
        ({"window_s": -1}, "window_s must be a number > 0"),
    ],
)
def test_bad_params_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LabJackT7("pilot", regs([]), **params)


def test_unknown_params_are_refused() -> None:
    with pytest.raises(TypeError, match=r"unknown parameters \['channel'\]"):
        LabJackT7("pilot", regs([]), channel=1)
