"""Preambles as the scopes answer them, their validation, and the vendors' scaling formulas.

Field order and codes: Keysight InfiniiVision Programmer's Guide, :WAVeform:PREamble (format 0 BYTE, 1 WORD,
4 ASCii; type 0 NORMal, 1 PEAK, 2 AVERage, 3 HRESolution); Rigol DS1000Z Programming Guide, :WAVeform:PREamble?
(format 0 BYTE, 1 WORD, 2 ASC; type 0 NORM, 1 MAX, 2 RAW). The strings are laid out as the instruments print them
(Keysight: signed NR1/NR3 with a plus sign; Rigol: plain integers and %e floats).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from rig.analysis import AnalysisError, Preamble, Waveform, pwm_stats
from rig.analysis.synth import GeneratorStep, pilot_capture
from rig.errors import RigError

# 0.5 s in 62 500 points, 30 V over 255 codes, 0 V at code 128
KEYSIGHT_BYTE = "+0,+0,+62500,+1,+8.00000000E-06,-2.50000000E-01,+0,+1.17647059E-01,+0.00000000E+00,+128\n"
KEYSIGHT_WORD = "+1,+3,+1000000,+1,+5.00000000E-07,-1.00000000E-01,+0,+4.57770657E-04,+1.50000000E+00,+32768"
RIGOL_BYTE = "0,2,1200,1,2.000000e-08,-1.200000e-05,0,4.132813e-02,-5,127\n"
KEYSIGHT, RIGOL = Preamble.from_keysight, Preamble.from_rigol


def test_keysight_byte_preamble_fields() -> None:
    p = Preamble.from_keysight(KEYSIGHT_BYTE)
    assert (p.format, p.type, p.points, p.count) == ("BYTE", "NORMAL", 62500, 1)
    assert (p.x_increment, p.x_origin, p.x_reference) == (8e-6, -0.25, 0.0)
    assert p.y_increment == pytest.approx(30 / 255)
    assert (p.y_origin, p.y_reference, p.convention) == (0.0, 128.0, "keysight")


def test_keysight_word_high_resolution() -> None:
    p = Preamble.from_keysight(KEYSIGHT_WORD)
    assert (p.format, p.type, p.points) == ("WORD", "HRESOLUTION", 1_000_000)
    # voltage = (code - yreference) x yincrement + yorigin
    assert p.volts([32768, 32768 + 1000, 0]) == pytest.approx([1.5, 1.5 + 0.457770657, 1.5 - 32768 * 4.57770657e-4])


def test_keysight_scaling_of_codes_and_times() -> None:
    p = Preamble.from_keysight(KEYSIGHT_BYTE)
    assert p.volts([128, 230, 26]) == pytest.approx([0.0, 102 * 30 / 255, -102 * 30 / 255])
    # time = (index - xreference) x xincrement + xorigin
    assert p.times(3) == pytest.approx([-0.25, -0.25 + 8e-6, -0.25 + 16e-6])
    assert p.times().size == 62500


def test_rigol_preamble_and_its_own_offset_meaning() -> None:
    p = Preamble.from_rigol(RIGOL_BYTE)
    assert (p.format, p.type, p.points, p.convention) == ("BYTE", "RAW", 1200, "rigol")
    # voltage = (code - yorigin - yreference) x yincrement: yorigin counts codes, not volts
    assert p.volts([122, 222, 0]) == pytest.approx([0.0, 100 * 0.04132813, -122 * 0.04132813])
    assert p.times(2) == pytest.approx([-1.2e-5, -1.2e-5 + 2e-8])


def test_the_same_fields_scale_differently_per_vendor() -> None:
    keysight = Preamble.from_keysight("0,0,4,1,1e-6,0,0,0.1,2.0,100")
    rigol = Preamble.from_rigol("0,0,4,1,1e-6,0,0,0.1,2.0,100")
    assert keysight.volts([110]) == pytest.approx([3.0])  # (110 - 100) x 0.1 + 2.0
    assert rigol.volts([110]) == pytest.approx([0.8])  # (110 - 2 - 100) x 0.1


def test_ascii_data_are_volts_already() -> None:
    p = Preamble.from_keysight("+4,+0,+3,+1,+1.0E-06,+0.0E+00,+0,+0.0E+00,+0.0E+00,+0")
    assert p.format == "ASCII"
    assert p.volts([9.01, -11.98, 6.0]) == pytest.approx([9.01, -11.98, 6.0])
    assert Preamble.from_rigol("2,0,3,1,1e-6,0,0,0,0,0").format == "ASCII"


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (KEYSIGHT, "+0,+0,+100,+1,+1E-06,+0,+0,+0.1,+0", "has 9 comma-separated fields, expected 10"),
        (KEYSIGHT, "+0,+0,abc,+1,+1E-06,+0,+0,+0.1,+0,+128", "field 3 <points>: 'abc' is not a number"),
        (KEYSIGHT, "+2,+0,+100,+1,+1E-06,+0,+0,+0.1,+0,+128", "field 1 <format>: 2 is not one of its codes"),
        (RIGOL, "4,0,100,1,1e-06,0,0,0.1,0,127", "field 1 <format>: 4 is not one of its codes (0 BYTE"),
        (RIGOL, "0,3,100,1,1e-06,0,0,0.1,0,127", "field 2 <type>: 3 is not one of its codes"),
        (KEYSIGHT, "+0,+0,+0,+1,+1E-06,+0,+0,+0.1,+0,+128", "field 3 <points>: expected an integer >= 1"),
        (KEYSIGHT, "+0,+0,+10.5,+1,+1E-06,+0,+0,+0.1,+0,+128", "field 3 <points>: expected an integer"),
        (KEYSIGHT, "+0,+0,+100,+0,+1E-06,+0,+0,+0.1,+0,+128", "field 4 <count>: expected an integer >= 1"),
        (KEYSIGHT, "+0,+0,+100,+1,+0,+0,+0,+0.1,+0,+128", "field 5 <xincrement>: expected a number > 0"),
        (RIGOL, "0,0,100,1,1e-06,0,0,0,0,127", "field 8 <yincrement>: expected a number > 0"),
        (RIGOL, "0,0,100,1,1e-06,nan,0,0.1,0,127", "field 6 <xorigin>: 'nan' is not a finite number"),
    ],
)
def test_invalid_preambles_name_the_field(parse: Callable[[str], Preamble], text: str, message: str) -> None:
    with pytest.raises(ValueError, match="PREamble") as caught:
        parse(text)
    assert message in str(caught.value)


def test_from_raw_builds_seconds_and_volts() -> None:
    p = Preamble.from_rigol("0,0,4,1,1e-06,-2e-06,0,0.5,0,127")
    w = Waveform.from_raw(p, np.array([127, 128, 129, 107], dtype=np.uint8), channel="CP")
    assert w.v == pytest.approx([0.0, 0.5, 1.0, -10.0])
    assert w.t == pytest.approx([-2e-6, -1e-6, 0.0, 1e-6])
    assert (w.channel, w.sample_interval) == ("CP", 1e-6)


def test_from_raw_rejects_a_length_other_than_the_preambles_points() -> None:
    p = Preamble.from_keysight("+0,+0,+4,+1,+1E-06,+0,+0,+0.1,+0,+128")
    with pytest.raises(ValueError, match=r"3 data points but the preamble's <points> is 4"):
        Waveform.from_raw(p, np.array([1, 2, 3], dtype=np.uint8))


def test_a_quantised_capture_measures_like_the_synthesised_one() -> None:
    """The same analysis on a virtual capture and on the codes a Keysight BYTE transfer would carry."""
    dt = 2e-6
    truth = pilot_capture(0.0, 0.1, dt, [GeneratorStep(-0.000123, "pwm", 53.3)], [(-1.0, 9.0)], rise_s=5e-6)
    y_increment, y_reference = 30.0 / 255, 128
    codes = np.clip(np.round(truth.v / y_increment) + y_reference, 0, 255).astype(np.uint8)
    text = f"+0,+0,+{codes.size},+1,+{dt:.8E},+0.0E+00,+0,+{y_increment:.8E},+0.0E+00,+{y_reference}"
    scope = Waveform.from_raw(Preamble.from_keysight(text), codes, channel="CP")
    measured = pwm_stats(scope)
    assert measured.duty_pct == pytest.approx(53.3, abs=0.2)
    assert measured.frequency_hz == pytest.approx(1000.0, rel=1e-3)
    assert measured.high_v == pytest.approx(9.0, abs=y_increment)
    assert measured.low_v == pytest.approx(-12.0, abs=y_increment)


def test_waveform_checks_its_arrays() -> None:
    with pytest.raises(ValueError, match="equal length"):
        Waveform(np.zeros(3), np.zeros(4), "CP", 1e-6)
    with pytest.raises(ValueError, match="at least 2 samples"):
        Waveform(np.zeros(1), np.zeros(1), "CP", 1e-6)
    with pytest.raises(ValueError, match="sample interval must be > 0"):
        Waveform(np.arange(3.0), np.zeros(3), "CP", 0.0)
    with pytest.raises(ValueError, match="NaN"):
        Waveform(np.arange(3.0), np.array([0.0, np.nan, 1.0]), "CP", 1.0)


def test_a_window_without_samples_is_an_analysis_error() -> None:
    w = Waveform.uniform(np.zeros(100), 1e-3, channel="CP")
    assert w.window(0.010, 0.020).t.size == 11
    with pytest.raises(AnalysisError, match=r"window t=0\.200000\.\.0\.300000 s holds 0 samples of CP in a 0\.099 s"):
        w.window(0.2, 0.3)
    assert isinstance(AnalysisError("x"), ValueError)
    assert isinstance(AnalysisError("x"), RigError)
