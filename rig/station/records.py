"""What a station writes besides the wheel's fabric store: its identity (``station.json``) and one record per DUT.

Both are small JSON objects, checked strictly when read (every key present, of its type and in its range, no other
key): a file that fails is a :class:`~rig.station.files.StationError` naming it, never silently replaced.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, Self, cast, get_args

from rig.station.files import StationError

CommissioningMode = Literal["on-network", "join"]
"""How the rig commissioned a DUT: ``on-network`` with its own setup code, ``join`` through a commissioning window
another administrator (a vendor app) opened."""

COMMISSIONING_MODES: tuple[str, ...] = get_args(CommissioningMode)

MAX_NODE_ID = 0xFFFF_FFEF_FFFF_FFFF
"""The highest operational node id (Matter core specification, 2.5.5 "Operational Node ID")."""

DEFAULT_CONTROLLER_NODE_ID = 112233
"""The CHIP Python controller's own default (``FabricAdmin.NewController``); kept so a station reopens as it was."""
DEFAULT_FABRIC_ID = 1
DEFAULT_VENDOR_ID = 0xFFF1
"""A test vendor id (0xFFF1..0xFFF4 are reserved for tests, Matter core specification 2.5.2 "Vendor Identifier")."""


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the second, e.g. ``2026-03-01T09:30:00Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -------------------------------------------------------------------------------------------------- checking
class _Invalid(ValueError):
    """One field's problem (worded without the file's name)."""


def _int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"{key} must be an integer, found {value!r}")
    if not low <= value <= high:
        raise _Invalid(f"{key} {value} is outside {low}..{high:#x}")
    return value


def _utc_time(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"{key} must be an ISO 8601 time string, found {value!r}")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"{key} {value!r} is not an ISO 8601 time") from None
    if when.utcoffset() != dt.timedelta(0):
        raise _Invalid(f"{key} {value!r} is not in UTC")
    return value


def _keys(data: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Invalid(f"expected a JSON object, found {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise _Invalid(f"missing {', '.join(missing)}")
    extra = sorted(str(k) for k in data if k not in keys)
    if extra:
        raise _Invalid(f"unknown key(s) {', '.join(extra)}; allowed: {', '.join(keys)}")
    return cast(dict[str, Any], data)


def _damaged(source: str, problem: object) -> StationError:
    return StationError(f"{source} is damaged: {problem}; restore it from a backup of the station folder")


def _loads(raw: bytes, source: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _damaged(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise _damaged(source, f"not valid JSON ({exc.msg} at {where}; truncated?)") from None


def dumps(data: dict[str, Any]) -> str:
    """The JSON text a station writes (indented, sorted keys, newline at the end)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------------------------------- records
class _JsonFile:
    """A station file's dataclass: written as a JSON object of its fields, read back strictly checked."""

    WHAT: ClassVar[str]
    """What the file is, in messages (``DUT record``, ``station identity``)."""

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON object."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, data: Any, source: str | None = None) -> Self:
        """Check and read the file's JSON; ``source`` (its file) names it in errors.

        Raises:
            StationError: a key is missing or unknown, or a value of the wrong type or out of range.
        """
        where = source or cls.WHAT
        try:
            return cls(**_keys(data, tuple(f.name for f in fields(cls))))  # type: ignore[arg-type]
        except (_Invalid, ValueError) as exc:
            raise _damaged(where, str(exc).removeprefix(f"invalid {cls.WHAT}: ")) from None

    @classmethod
    def from_bytes(cls, raw: bytes, source: str) -> Self:
        """Parse and check a file's content."""
        return cls.from_json(_loads(raw, source), source)


@dataclass(frozen=True)
class DutRecord(_JsonFile):
    """One DUT the station's fabric has commissioned (``duts/<node id>.json``); checked when made.

    ``serial_number`` comes from the DUT (Basic Information): print it escaped, never as it is.

    Raises:
        ValueError: a field of the wrong type or out of range.
    """

    WHAT: ClassVar[str] = "DUT record"

    node_id: int
    """The operational node id the rig gave the DUT."""
    vendor_id: int
    product_id: int
    serial_number: str
    fabric_index: int
    """The station's fabric's index in the DUT's fabric table (its CurrentFabricIndex)."""
    commissioned_at: str
    """ISO 8601 UTC time of commissioning (:func:`utc_now`)."""
    mode: CommissioningMode

    def __post_init__(self) -> None:
        try:
            self._check()
        except _Invalid as exc:
            raise ValueError(f"invalid DUT record: {exc}") from None

    def _check(self) -> None:
        _int(self.node_id, "node_id", 1, MAX_NODE_ID)
        _int(self.vendor_id, "vendor_id", 0, 0xFFFF)
        _int(self.product_id, "product_id", 0, 0xFFFF)
        if not isinstance(self.serial_number, str):
            raise _Invalid(f"serial_number must be a string, found {self.serial_number!r}")
        _int(self.fabric_index, "fabric_index", 1, 254)
        _utc_time(self.commissioned_at, "commissioned_at")
        if self.mode not in COMMISSIONING_MODES:
            raise _Invalid(f"mode {self.mode!r} is not one of {', '.join(COMMISSIONING_MODES)}")


@dataclass(frozen=True)
class StationIdentity(_JsonFile):
    """Who the station is on its fabric (``station.json``): what the controller must reuse to reopen it.

    The CASE admin subject a DUT's ACL holds is the controller's node id, and the compressed fabric id a DUT
    advertises comes from the root key and the fabric id: change none of them once a DUT is commissioned.

    Raises:
        ValueError: a field of the wrong type or out of range.
    """

    WHAT: ClassVar[str] = "station identity"

    controller_node_id: int = DEFAULT_CONTROLLER_NODE_ID
    fabric_id: int = DEFAULT_FABRIC_ID
    vendor_id: int = DEFAULT_VENDOR_ID
    ca_index: int | None = None
    """The CHIP controller's CA index of the station's root CA; None until the first CA exists."""
    created_at: str = field(default_factory=utc_now)
    """ISO 8601 UTC time the station was first opened."""

    def __post_init__(self) -> None:
        try:
            self._check()
        except _Invalid as exc:
            raise ValueError(f"invalid station identity: {exc}") from None

    def _check(self) -> None:
        _int(self.controller_node_id, "controller_node_id", 1, MAX_NODE_ID)
        _int(self.fabric_id, "fabric_id", 1, 0xFFFF_FFFF_FFFF_FFFF)
        _int(self.vendor_id, "vendor_id", 0, 0xFFFE)
        if self.ca_index is not None:
            _int(self.ca_index, "ca_index", 0, 0xFFFF_FFFF)
        _utc_time(self.created_at, "created_at")
