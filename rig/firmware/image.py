"""The Matter OTA image file (Matter Core specification, section 11.20.2 OTA Software Update File Format): read and
checked here, made by matter.js's ``OtaImageWriter`` (``virtual_evse/src/build-image.js``).

The file: ``FileIdentifier`` (uint32 LE, 0x1BEEF11E), ``TotalSize`` (uint64 LE), ``HeaderSize`` (uint32 LE), the
header (an anonymous TLV structure: vendor id, product id, software version, version string, payload size, optional
min/max applicable versions and release notes URL, digest type, digest) and the payload, whose digest the header
carries. The same layout the SDK's ``ota_image_tool.py`` writes; a vendor's image is read as one of ours.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.errors import ConfigError

FILE_IDENTIFIER = 0x1BEEF11E
PREFIX = struct.Struct("<IQI")
"""FileIdentifier, TotalSize, HeaderSize."""

DIGESTS: dict[int, tuple[str, int]] = {
    1: ("sha256", 32),
    2: ("sha256", 16),
    3: ("sha256", 15),
    4: ("sha256", 12),
    5: ("sha256", 8),
    6: ("sha256", 4),
    7: ("sha384", 48),
    8: ("sha512", 64),
    10: ("sha3_256", 32),
    11: ("sha3_384", 48),
    12: ("sha3_512", 64),
}
"""ImageDigestType (the IANA Named Information Hash Algorithm Registry ids) -> hashlib name, digest length (a
truncated SHA-256 for ids 2..6)."""

FIELDS = {
    0: "VendorID",
    1: "ProductID",
    2: "SoftwareVersion",
    3: "SoftwareVersionString",
    4: "PayloadSize",
    5: "MinApplicableSoftwareVersion",
    6: "MaxApplicableSoftwareVersion",
    7: "ReleaseNotesURL",
    8: "ImageDigestType",
    9: "ImageDigest",
}
REQUIRED = ("VendorID", "ProductID", "SoftwareVersion", "SoftwareVersionString", "PayloadSize", "ImageDigestType")


class ImageError(ConfigError):
    """An OTA image that is not well formed, or damaged; the message names the field."""


@dataclass(frozen=True)
class OtaHeader:
    """The header of an OTA image (Matter Core 11.20.2.2)."""

    vendor_id: int
    product_id: int
    software_version: int
    software_version_string: str
    payload_size: int
    digest_type: int
    digest: bytes
    min_applicable: int | None = None
    max_applicable: int | None = None
    release_notes_url: str | None = None

    def describe(self) -> str:
        """One line: vendor, product, version, payload size, digest type."""
        return (
            f"vendor id 0x{self.vendor_id:04X}, product id 0x{self.product_id:04X}, software version "
            f"{self.software_version} ({self.software_version_string!r}), payload {self.payload_size} bytes, "
            f"digest {DIGESTS.get(self.digest_type, ('type ' + str(self.digest_type), 0))[0]}"
        )

    def to_json(self) -> dict[str, Any]:
        """The header as JSON (the digest in hex)."""
        return {
            "vendor_id": self.vendor_id,
            "product_id": self.product_id,
            "software_version": self.software_version,
            "software_version_string": self.software_version_string,
            "payload_size": self.payload_size,
            "digest_type": self.digest_type,
            "digest": self.digest.hex(),
            "min_applicable_software_version": self.min_applicable,
            "max_applicable_software_version": self.max_applicable,
            "release_notes_url": self.release_notes_url,
        }


@dataclass(frozen=True)
class OtaImage:
    """A checked OTA image: its header, where its payload starts, its size."""

    path: Path
    header: OtaHeader
    payload_offset: int
    size: int

    def payload(self) -> bytes:
        """The payload bytes."""
        with self.path.open("rb") as f:
            f.seek(self.payload_offset)
            return f.read(self.header.payload_size)


def _tlv_struct(data: bytes, where: str) -> dict[int, int | str | bytes]:
    """The fields of an anonymous TLV structure of context-tagged scalars (Matter Core appendix A), by tag."""
    if len(data) < 1 or data[0] != 0x15:
        raise ImageError(f"{where}: not a TLV structure (first byte 0x{data[:1].hex() or '--'})")
    fields: dict[int, int | str | bytes] = {}
    i = 1
    while i < len(data):
        control = data[i]
        i += 1
        if control == 0x18:  # end of container
            return fields
        tag_form, kind = control >> 5, control & 0x1F
        if tag_form != 1:
            raise ImageError(f"{where}: element with tag form {tag_form} (only context tags are in the header)")
        tag = data[i]
        i += 1
        name = FIELDS.get(tag, f"tag {tag}")
        value: int | str | bytes
        if kind in (0x04, 0x05, 0x06, 0x07, 0x00, 0x01, 0x02, 0x03):  # unsigned / signed integers
            width = 1 << (kind & 0x03)
            if i + width > len(data):
                raise ImageError(f"{where}: {name} cut short")
            value = int.from_bytes(data[i : i + width], "little", signed=kind < 0x04)
            i += width
        elif kind in (0x0C, 0x0D, 0x0E, 0x10, 0x11, 0x12):  # UTF-8 string / byte string, 1/2/4-byte length
            width = 1 << ((kind - 0x0C) if kind < 0x10 else (kind - 0x10))
            length = int.from_bytes(data[i : i + width], "little")
            i += width
            raw = data[i : i + length]
            if len(raw) != length:
                raise ImageError(f"{where}: {name} cut short")
            i += length
            try:
                value = raw.decode("utf-8") if kind < 0x10 else bytes(raw)
            except UnicodeDecodeError:
                raise ImageError(f"{where}: {name} is not UTF-8") from None
        else:
            raise ImageError(f"{where}: {name} has TLV element type 0x{kind:02x}, not an integer or a string")
        fields[tag] = value
    raise ImageError(f"{where}: the TLV structure has no end")


def _field(fields: dict[int, int | str | bytes], name: str, kind: type) -> Any:
    tag = next(t for t, n in FIELDS.items() if n == name)
    value = fields.get(tag)
    if value is None:
        if name in REQUIRED or name == "ImageDigest":
            raise ImageError(f"header: {name} is missing")
        return None
    if not isinstance(value, kind):
        raise ImageError(f"header: {name} is not {'an integer' if kind is int else 'a string'}")
    return value


def read_image(path: Path) -> OtaImage:
    """Read and check an OTA image: prefix, header fields, sizes and the payload digest.

    Raises:
        ImageError: the file is unreadable, not an OTA image, or damaged; the message names the field.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the OTA image: {exc.strerror}") from None
    where = str(path)
    if len(data) < PREFIX.size:
        raise ImageError(f"{where}: FileIdentifier: {len(data)} bytes, too short for an OTA image")
    ident, total, header_size = PREFIX.unpack_from(data)
    if ident != FILE_IDENTIFIER:
        raise ImageError(
            f"{where}: FileIdentifier is 0x{ident:08X}, not 0x{FILE_IDENTIFIER:08X} (not a Matter OTA image)"
        )
    if total != len(data):
        raise ImageError(f"{where}: TotalSize says {total} bytes, the file has {len(data)} (truncated or padded)")
    end = PREFIX.size + header_size
    if end > len(data):
        raise ImageError(f"{where}: HeaderSize {header_size} runs past the end of the file")
    fields = _tlv_struct(data[PREFIX.size : end], f"{where}: header")
    header = OtaHeader(
        vendor_id=_field(fields, "VendorID", int),
        product_id=_field(fields, "ProductID", int),
        software_version=_field(fields, "SoftwareVersion", int),
        software_version_string=_field(fields, "SoftwareVersionString", str),
        payload_size=_field(fields, "PayloadSize", int),
        digest_type=_field(fields, "ImageDigestType", int),
        digest=_field(fields, "ImageDigest", bytes),
        min_applicable=_field(fields, "MinApplicableSoftwareVersion", int),
        max_applicable=_field(fields, "MaxApplicableSoftwareVersion", int),
        release_notes_url=_field(fields, "ReleaseNotesURL", str),
    )
    if end + header.payload_size != len(data):
        raise ImageError(
            f"{where}: PayloadSize says {header.payload_size} bytes, the file holds {len(data) - end} after the header"
        )
    if header.digest_type not in DIGESTS:
        raise ImageError(f"{where}: ImageDigestType {header.digest_type} is not a known hash algorithm")
    algorithm, length = DIGESTS[header.digest_type]
    if len(header.digest) != length:
        raise ImageError(f"{where}: ImageDigest has {len(header.digest)} bytes, {algorithm} gives {length}")
    if hashlib.new(algorithm, data[end:]).digest()[:length] != header.digest:
        raise ImageError(f"{where}: ImageDigest does not match the payload (the image is damaged)")
    return OtaImage(path, header, end, len(data))
