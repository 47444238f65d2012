"""Matter onboarding codes (no dependency on ``chip``): the 11-digit manual pairing code.

Layout per the Matter core specification (5.1.4): chunk 1 (1 digit) = VID/PID flag << 2 | short discriminator
bits 3..2; chunk 2 (5 digits) = short discriminator bits 1..0 << 14 | passcode bits 13..0; chunk 3 (4 digits) =
passcode bits 26..14; then a Verhoeff check digit.
"""

from __future__ import annotations

_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_check_digit(digits: str) -> str:
    """The Verhoeff check digit of a string of decimal digits."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def verhoeff_valid(code: str) -> bool:
    """True if the last digit of ``code`` is its Verhoeff check digit."""
    return code.isdigit() and len(code) > 1 and verhoeff_check_digit(code[:-1]) == code[-1]


def manual_pairing_code(passcode: int, discriminator: int) -> str:
    """The 11-digit manual pairing code (no vendor/product id) for a passcode and 12-bit discriminator."""
    if not 0 < passcode < 1 << 27:
        raise ValueError(f"passcode {passcode} out of range")
    if not 0 <= discriminator < 1 << 12:
        raise ValueError(f"discriminator {discriminator} out of range 0..4095")
    short = discriminator >> 8
    chunk1 = (short >> 2) & 0x3
    chunk2 = ((short & 0x3) << 14) | (passcode & 0x3FFF)
    chunk3 = passcode >> 14
    body = f"{chunk1:01d}{chunk2:05d}{chunk3:04d}"
    return body + verhoeff_check_digit(body)


_BASE38 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-."
ON_NETWORK = 0x04
"""Discovery capabilities bit 2: the device is already on the IP network (no BLE or SoftAP search)."""


def _base38(data: bytes) -> str:
    """Base-38 of ``data`` (Matter core 5.1.3.1): 3 bytes -> 5 characters, a last 2 -> 4, a last 1 -> 2."""
    out = []
    for i in range(0, len(data), 3):
        chunk = data[i : i + 3]
        value = int.from_bytes(chunk, "little")
        for _ in range({3: 5, 2: 4, 1: 2}[len(chunk)]):
            out.append(_BASE38[value % 38])
            value //= 38
    return "".join(out)


def qr_payload(
    passcode: int, discriminator: int, *, vendor_id: int = 0, product_id: int = 0, capabilities: int = ON_NETWORK
) -> str:
    """The ``MT:`` QR code payload (Matter core 5.1.3) for a passcode and 12-bit (long) discriminator.

    Packed least significant bit first: version (3 bits, 0), vendor id (16), product id (16), custom flow (2,
    0 = standard), discovery capabilities (8), discriminator (12), passcode (27), padding (4): 88 bits, base-38.
    """
    if not 0 < passcode < 1 << 27:
        raise ValueError(f"passcode {passcode} out of range")
    if not 0 <= discriminator < 1 << 12:
        raise ValueError(f"discriminator {discriminator} out of range 0..4095")
    bits = 0
    shift = 0
    for value, width in ((0, 3), (vendor_id, 16), (product_id, 16), (0, 2), (capabilities, 8), (discriminator, 12),
                         (passcode, 27), (0, 4)):  # fmt: skip
        bits |= (value & ((1 << width) - 1)) << shift
        shift += width
    return "MT:" + _base38(bits.to_bytes(11, "little"))
