"""Register codecs: known vectors and round trips."""

from __future__ import annotations

import math

import pytest

from rig.instruments import registers as r


def test_float32_abcd_known_vector() -> None:
    assert r.float32_abcd_encode(230.0) == [0x4366, 0x0000]
    assert r.float32_abcd_decode([0x4366, 0x0000]) == 230.0
    assert r.float32_abcd_decode([0x3F80, 0x0000]) == 1.0


@pytest.mark.parametrize("value", [0.0, -1.5, 12.345, 1e-3, 65535.25, -3.4e38])
def test_float32_round_trip(value: float) -> None:
    assert math.isclose(r.float32_abcd_decode(r.float32_abcd_encode(value)), value, rel_tol=1e-6)


def test_int32_low_word_first() -> None:
    assert r.int32_lswf_encode(0x00012345) == [0x2345, 0x0001]
    assert r.int32_lswf_decode([0x2345, 0x0001]) == 0x12345
    assert r.int32_lswf_encode(-1) == [0xFFFF, 0xFFFF]
    assert r.int32_lswf_decode([0xFFFE, 0xFFFF]) == -2


@pytest.mark.parametrize("value", [0, 1, -1, 2300, -123456, 2**31 - 1, -(2**31)])
def test_int32_round_trip(value: int) -> None:
    assert r.int32_lswf_decode(r.int32_lswf_encode(value)) == value


def test_uint32_high_word_first() -> None:
    assert r.uint32_hwf_encode(0x12345678) == [0x1234, 0x5678]
    assert r.uint32_hwf_decode([0x1234, 0x5678]) == 0x12345678
    assert r.uint32_hwf_decode(r.uint32_hwf_encode(0xFFFFFFFF)) == 0xFFFFFFFF


def test_int16() -> None:
    assert r.int16_decode(0xFFFF) == -1
    assert r.int16_decode(0x2EE0) == 12000
    assert r.int16_encode(-12000) == 0xD120
    assert r.int16_decode(r.int16_encode(-12000)) == -12000


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (r.int32_lswf_encode, 2**31),
        (r.uint32_hwf_encode, -1),
        (r.int16_encode, 40000),
        (r.float32_abcd_decode, [1]),
        (r.uint32_hwf_decode, [0x10000, 0]),
    ],
)
def test_out_of_range_rejected(call: object, arg: object) -> None:
    with pytest.raises(ValueError):
        call(arg)  # type: ignore[operator]


def test_describe_request() -> None:
    assert r.describe_request("fc04", 0x48, 2, True) == "FC04 0x0048 count=2"
    assert r.describe_request("fc05", 3, True, False) == "FC05 0x0003 value=True"
