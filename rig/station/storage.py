"""The CHIP Python controller's fabric store (``chip-storage.json``), read without the ``chip`` wheel.

The wheel (home-assistant-chip-core 2025.7.0, ``chip.storage.PersistentStorage``) keeps one JSON object::

    {"repl-config": {"caList": {"<CA index>": [{"fabricId": 1, "vendorId": 65521}]}},
     "sdk-config": {"<key>": "<base64>", ...}}

``caList``'s keys are CA indices in decimal; the SDK's keys of CA index ``i`` end in ``i`` in lower-case hex
(``ExampleOpCredsCAKey`` + ``%x``, the SDK's ``PERSISTENT_KEY_OP``), so CA index 10 is ``ExampleOpCredsCAKeya``:

* ``ExampleOpCredsCAKey<i>``: the root CA's P-256 key pair, 97 bytes (65-byte uncompressed public point, then the
  32-byte private scalar). Whoever holds it administers every DUT on the fabric.
* ``ExampleCARootCert<i>``: the root certificate, **X.509 DER** (not Matter TLV: the SDK's example issuer signs
  X.509 and converts to TLV only for the fabric table's ``f/<fabric index>/r``).
* ``ExampleOpCredsICAKey<i>``, ``ExampleCAIntermediateCert<i>``: the intermediate CA, likewise.
* the controller's own fabric table (``f/<index>/n``, ``/i``, ``/r``, ``/m``, ``g/fidx``), session resumption and
  group keys, and the last known good time (``g/lkgt``).

The wheel reads a damaged file as empty and then mints a new root CA: a new fabric, leaving every commissioned DUT
holding a fabric no one can administer. :func:`parse_storage` is the check made before the wheel may see the file.
A file whose ``caList`` is absent and that holds no CA key is the state the wheel leaves after starting its stack
and before creating a CA: no fabric yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CA_KEY = "ExampleOpCredsCAKey"
ICA_KEY = "ExampleOpCredsICAKey"
ROOT_CERT = "ExampleCARootCert"
ICA_CERT = "ExampleCAIntermediateCert"

P256_POINT_LEN = 65
P256_KEYPAIR_LEN = 97
"""An SDK ``P256SerializedKeypair``: the uncompressed public point (65 bytes) then the private scalar (32)."""


def sdk_key(prefix: str, ca_index: int) -> str:
    """The ``sdk-config`` key of ``prefix`` (e.g. :data:`CA_KEY`) for CA index ``ca_index`` (suffix in hex)."""
    return f"{prefix}{ca_index:x}"


@dataclass(frozen=True)
class CaEntry:
    """One root CA of the store: its index, the fabrics ``(fabric id, vendor id)`` its admins use, its root."""

    ca_index: int
    fabrics: tuple[tuple[int, int], ...]
    root_public_key: bytes
    """The 65-byte uncompressed P-256 point of the root certificate."""


@dataclass(frozen=True)
class FabricStore:
    """What a valid store holds: its CAs by index (empty when it holds no fabric yet)."""

    cas: dict[int, CaEntry]

    @property
    def has_fabric(self) -> bool:
        """Whether a root CA (and so a fabric's private root key) is stored."""
        return bool(self.cas)


class StorageDamaged(ValueError):
    """The store's content is not what the wheel writes; the message says what is wrong."""


def root_public_key_of(cert_der: bytes) -> bytes:
    """The 65-byte uncompressed P-256 public point of an X.509 DER root certificate.

    Raises:
        StorageDamaged: not a DER certificate, or its key is not a P-256 key.
    """
    try:
        cert = x509.load_der_x509_certificate(cert_der)
        key = cert.public_key()
    except ValueError as exc:
        raise StorageDamaged(f"the root certificate is not an X.509 DER certificate ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise StorageDamaged("the root certificate's key is not a P-256 (secp256r1) key")
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def fingerprint(public_key: bytes) -> str:
    """SHA-256 of the 65-byte public point, as colon-separated upper-case hex."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(public_key).digest())


def compressed_fabric_id(public_key: bytes, fabric_id: int) -> str:
    """The compressed fabric identifier as 16 upper-case hex digits (Matter core specification, 4.3.2.2).

    HKDF-SHA256 (RFC 5869) with the root public key without its 0x04 prefix (64 bytes) as input keying material,
    the fabric id as 8 big-endian bytes as salt and ``CompressedFabric`` as info, 8 bytes long. It is the first half
    of the DUT's operational DNS-SD instance name ``<compressed fabric id>-<node id>``.
    """
    if len(public_key) != P256_POINT_LEN or public_key[0] != 0x04:
        raise ValueError("expected a 65-byte uncompressed P-256 point")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=8, salt=fabric_id.to_bytes(8, "big"), info=b"CompressedFabric")
    return hkdf.derive(public_key[1:]).hex().upper()


def _b64(key: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise StorageDamaged(f"sdk-config {key!r} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise StorageDamaged(f"sdk-config {key!r} is not valid base64") from None


def _int_like(key: Any) -> int | None:
    return int(key) if isinstance(key, str) and key.isascii() and key.isdigit() else None


def _fabrics(index: str, entries: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(entries, list):
        raise StorageDamaged(f"caList[{index!r}] is not a list")
    found = []
    for n, entry in enumerate(entries):
        pair = (entry.get("fabricId"), entry.get("vendorId")) if isinstance(entry, dict) else (None, None)
        fabric, vendor = (v if isinstance(v, int) and not isinstance(v, bool) else None for v in pair)
        if fabric is None or vendor is None:
            raise StorageDamaged(f"caList[{index!r}][{n}] is not an object of integers fabricId and vendorId")
        found.append((fabric, vendor))
    return tuple(found)


def parse_storage(raw: bytes) -> FabricStore:
    """Check the content of a fabric store and return its CAs.

    An empty file, and one holding no ``caList`` and no CA key, hold no fabric (empty :class:`FabricStore`).

    Raises:
        StorageDamaged: not JSON (e.g. truncated), sections missing or of the wrong type, a ``caList`` that is empty
            or malformed, an SDK value that is not base64, a CA index without its key or root certificate, a root
            certificate that is not X.509 DER with a P-256 key or does not match its CA key, or a CA key without a
            ``caList``.
    """
    if not raw.strip():
        return FabricStore({})
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StorageDamaged(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise StorageDamaged(f"not valid JSON ({exc.msg} at {where}; truncated?)") from None
    if not isinstance(data, dict):
        raise StorageDamaged(f"expected a JSON object, found {type(data).__name__}")
    sdk, repl = data.get("sdk-config"), data.get("repl-config")
    if not isinstance(sdk, dict) or not isinstance(repl, dict):
        raise StorageDamaged("'sdk-config' and 'repl-config' must both be JSON objects")
    values = {str(k): _b64(str(k), v) for k, v in sdk.items()}
    ca_list = repl.get("caList")
    if ca_list is None:
        stray = sorted(k for k in values if k.startswith((CA_KEY, ROOT_CERT)))
        if stray:
            raise StorageDamaged(f"it holds {', '.join(stray)} but no caList in repl-config")
        return FabricStore({})
    if not isinstance(ca_list, dict) or not ca_list:
        raise StorageDamaged("repl-config caList must be a non-empty object of CA index -> fabrics")
    cas: dict[int, CaEntry] = {}
    for index, entries in ca_list.items():
        ca_index = _int_like(index)
        if ca_index is None:
            raise StorageDamaged(f"caList key {index!r} is not a CA index (a decimal integer)")
        fabrics = _fabrics(index, entries)
        key_name, cert_name = sdk_key(CA_KEY, ca_index), sdk_key(ROOT_CERT, ca_index)
        missing = [k for k in (key_name, cert_name) if k not in values]
        if missing:
            raise StorageDamaged(f"CA index {ca_index} has no {' and no '.join(missing)} in sdk-config")
        public = root_public_key_of(values[cert_name])
        keypair = values[key_name]
        if len(keypair) != P256_KEYPAIR_LEN:
            raise StorageDamaged(f"{key_name} is {len(keypair)} bytes, not a {P256_KEYPAIR_LEN}-byte P-256 key pair")
        if keypair[:P256_POINT_LEN] != public:
            raise StorageDamaged(f"{cert_name} does not certify the key in {key_name}")
        cas[ca_index] = CaEntry(ca_index, fabrics, public)
    return FabricStore(cas)
