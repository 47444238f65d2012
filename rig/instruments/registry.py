"""Name → ``"module:Class"`` registries of drivers and transports (python-can style), imported lazily.

rig.yaml names a driver and a transport kind per role; ``make_transport`` and ``make_instrument`` build them.
Adding a driver: write ``rig/instruments/<vendor>_<model>.py``, add it to ``DRIVERS``, add its scripted-transport
tests under ``tests/instruments/``.
"""

from __future__ import annotations

import importlib
from typing import Any

from rig.instruments.transport import Transport

DRIVERS: dict[str, str] = {
    "scpi_ac_source": "rig.instruments.scpi_ac_source:ScpiAcSource",
    "chroma_61500": "rig.instruments.chroma_61500:Chroma61500",
    "eastron_sdm630": "rig.instruments.eastron_sdm630:EastronSdm630",
    "carlo_gavazzi_em340": "rig.instruments.carlo_gavazzi_em340:CarloGavazziEm340",
    "yokogawa_wt": "rig.instruments.yokogawa_wt:YokogawaWt",
    "modbus_relay_io": "rig.instruments.modbus_relay_io:ModbusRelayIo",
    "keysight_daq970a": "rig.instruments.keysight_daq970a:KeysightDaq970a",
    "can_ev_board": "rig.instruments.can_ev_board:CanEvBoard",
}
"""Driver name (as in rig.yaml) → ``module:Class``."""

TRANSPORTS: dict[str, str] = {
    "visa": "rig.instruments.visa_transport:VisaTransport",
    "modbus_tcp": "rig.instruments.modbus_transport:ModbusTcpTransport",
    "modbus_rtu": "rig.instruments.modbus_transport:ModbusRtuTransport",
    "can": "rig.instruments.can_transport:CanTransport",
}
"""Transport kind (as in rig.yaml) → ``module:Class``."""

DRIVER_TRANSPORTS: dict[str, tuple[str, ...]] = {
    "scpi_ac_source": ("visa",),
    "chroma_61500": ("visa",),
    "eastron_sdm630": ("modbus_tcp", "modbus_rtu"),
    "carlo_gavazzi_em340": ("modbus_tcp", "modbus_rtu"),
    "yokogawa_wt": ("visa",),
    "modbus_relay_io": ("modbus_tcp", "modbus_rtu"),
    "keysight_daq970a": ("visa",),
    "can_ev_board": ("can",),
}
"""Transport kinds each driver can talk through."""


def _load(table: dict[str, str], name: str, what: str) -> Any:
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(sorted(table))}")
    module_name, _, class_name = table[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_driver(name: str) -> type[Any]:
    """Return the driver class registered as ``name`` (imports its module now); ValueError lists valid names."""
    cls: type[Any] = _load(DRIVERS, name, "instrument driver")
    return cls


def load_transport(kind: str) -> type[Any]:
    """Return the transport class registered as ``kind``; ValueError lists the valid kinds."""
    cls: type[Any] = _load(TRANSPORTS, kind, "transport kind")
    return cls


def capabilities_of(name: str) -> tuple[str, ...]:
    """Return the capability names (``AcSource``, ``EnergyMeter``, ...) the driver ``name`` implements."""
    caps: tuple[str, ...] = load_driver(name).CAPABILITIES
    return caps


def make_transport(kind: str, role: str, **params: Any) -> Any:
    """Build (not open) a transport of ``kind`` for ``role``; ``params`` are the transport's keyword arguments."""
    cls = load_transport(kind)
    try:
        return cls(role, **params)
    except TypeError as exc:
        raise ValueError(f"role {role!r}: bad parameters for transport {kind!r}: {exc}") from None


def make_instrument(role: str, driver: str, transport: Transport, **params: Any) -> Any:
    """Build the driver ``driver`` for ``role`` on ``transport`` and open it (the transport is closed on failure)."""
    cls = load_driver(driver)
    try:
        instrument = cls(role, transport, **params)
    except TypeError as exc:
        raise ValueError(f"role {role!r}: bad parameters for driver {driver!r}: {exc}") from None
    try:
        instrument.open()
    except BaseException:
        instrument.close()
        raise
    return instrument
