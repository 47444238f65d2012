"""Pure register codecs for Modbus instruments (no third-party imports).

Word orders as the instruments document them (docs/bench-protocols.md sections 2 and 6):

* float32 ABCD: IEEE-754 big-endian bytes, high word first (Eastron SDM630, LabJack T7).
* int32 low word first (Carlo Gavazzi EM330/EM340).
* uint32 high word first (LabJack T7).
* int16: one register, two's complement (Carlo Gavazzi frequency).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence


def _check_words(words: Sequence[int], count: int, what: str) -> None:
    if len(words) != count:
        raise ValueError(f"{what} needs {count} registers, got {len(words)}")
    for w in words:
        if not 0 <= w <= 0xFFFF:
            raise ValueError(f"register value {w} is outside 0..65535")


def float32_abcd_decode(words: Sequence[int]) -> float:
    """Decode two registers (high word first, big-endian bytes) into a float32."""
    _check_words(words, 2, "float32")
    return float(struct.unpack(">f", struct.pack(">HH", words[0], words[1]))[0])


def float32_abcd_encode(value: float) -> list[int]:
    """Encode a float32 into two registers (high word first, big-endian bytes)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def int32_lswf_decode(words: Sequence[int]) -> int:
    """Decode two registers (low word first) into a signed int32."""
    _check_words(words, 2, "int32")
    raw = (words[1] << 16) | words[0]
    return raw - (1 << 32) if raw & 0x8000_0000 else raw


def int32_lswf_encode(value: int) -> list[int]:
    """Encode a signed int32 into two registers (low word first)."""
    if not -(1 << 31) <= value < (1 << 31):
        raise ValueError(f"{value} does not fit an int32")
    raw = value & 0xFFFF_FFFF
    return [raw & 0xFFFF, raw >> 16]


def uint32_hwf_decode(words: Sequence[int]) -> int:
    """Decode two registers (high word first) into an unsigned int32."""
    _check_words(words, 2, "uint32")
    return (words[0] << 16) | words[1]


def uint32_hwf_encode(value: int) -> list[int]:
    """Encode an unsigned int32 into two registers (high word first)."""
    if not 0 <= value <= 0xFFFF_FFFF:
        raise ValueError(f"{value} does not fit a uint32")
    return [value >> 16, value & 0xFFFF]


def int16_decode(word: int) -> int:
    """Decode one register as a signed int16."""
    _check_words([word], 1, "int16")
    return word - 0x10000 if word & 0x8000 else word


def int16_encode(value: int) -> int:
    """Encode a signed int16 into one register."""
    if not -0x8000 <= value <= 0x7FFF:
        raise ValueError(f"{value} does not fit an int16")
    return value & 0xFFFF


RequestPayload = int | bool | list[int] | list[bool]
"""What a Modbus request carries: a count (reads), a value or a list of values (writes)."""


def describe_request(fc: str, address: int, payload: RequestPayload, read: bool) -> str:
    """Name a Modbus request the way every register transport reports its ``last_command``.

    Example: ``describe_request("fc04", 0x48, 2, True)`` → ``"FC04 0x0048 count=2"``.
    """
    if read:
        return f"{fc.upper()} 0x{address:04X} count={payload}"
    return f"{fc.upper()} 0x{address:04X} value={payload!r}"
