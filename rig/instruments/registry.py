"""Name → ``"module:Class"`` registries of drivers and transports (python-can style), imported lazily.

The one place that names drivers: rig.yaml validation (:mod:`rig.config.bench`), the driver table of
``docs/bench-protocols.md`` (:func:`driver_table_markdown`, ``python -m rig.instruments.registry``) and ``rig bench
check`` (:func:`driver_info`) all read it. Nothing here imports an instrument library: entries are strings, and
driver modules import their transport's library only when a transport opens.

rig.yaml names a driver and a transport kind per role; ``make_transport`` and ``make_instrument`` build them.
Adding a driver: write ``rig/instruments/<vendor>_<model>.py`` (its class docstring's first line is its description,
its ``CAPABILITIES`` what it offers), add it to ``DRIVER_TABLE``, add its scripted-transport tests under
``tests/instruments/`` and regenerate the driver table of ``docs/bench-protocols.md``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from rig.instruments.capabilities import Instrument
from rig.instruments.transport import Transport


class DriverEntry(NamedTuple):
    """One registered driver: where its class is and which transport kinds it speaks over."""

    target: str
    """``module:Class``."""
    transports: tuple[str, ...]
    """Transport kinds (keys of :data:`TRANSPORTS`), preferred first."""


DRIVER_TABLE: dict[str, DriverEntry] = {
    "chroma_61500": DriverEntry("rig.instruments.chroma_61500:Chroma61500", ("visa",)),
    "ametek_sequoia": DriverEntry("rig.instruments.ametek_sequoia:AmetekSequoia", ("visa",)),
    "keysight_ac6800": DriverEntry("rig.instruments.keysight_ac6800:KeysightAc6800", ("visa",)),
    "eastron_sdm630": DriverEntry("rig.instruments.eastron_sdm630:EastronSdm630", ("modbus_tcp", "modbus_rtu")),
    "carlo_gavazzi_em340": DriverEntry(
        "rig.instruments.carlo_gavazzi_em340:CarloGavazziEm340", ("modbus_tcp", "modbus_rtu")
    ),
    "yokogawa_wt": DriverEntry("rig.instruments.yokogawa_wt:YokogawaWt", ("visa",)),
    "waveshare_relay": DriverEntry("rig.instruments.waveshare_relay:WaveshareRelay", ("modbus_tcp",)),
    "keysight_daq970a": DriverEntry("rig.instruments.keysight_daq970a:KeysightDaq970a", ("visa",)),
    "can_ev_board": DriverEntry("rig.instruments.can_ev_board:CanEvBoard", ("can",)),
    "keysight_infiniivision": DriverEntry("rig.instruments.keysight_infiniivision:KeysightInfiniiVision", ("visa",)),
    "rigol_ds": DriverEntry("rig.instruments.rigol_ds:RigolDs", ("visa",)),
    "labjack_t7": DriverEntry("rig.instruments.labjack_t7:LabJackT7", ("modbus_tcp",)),
}
"""Driver name (as in rig.yaml) → where its class is and the transport kinds it speaks: the one list of drivers."""

DRIVERS: dict[str, str] = {name: entry.target for name, entry in DRIVER_TABLE.items()}
"""Driver name (as in rig.yaml) → ``module:Class`` (from :data:`DRIVER_TABLE`)."""

TRANSPORTS: dict[str, str] = {
    "visa": "rig.instruments.visa_transport:VisaTransport",
    "modbus_tcp": "rig.instruments.modbus_transport:ModbusTcpTransport",
    "modbus_rtu": "rig.instruments.modbus_transport:ModbusRtuTransport",
    "can": "rig.instruments.can_transport:CanTransport",
}
"""Transport kind (as in rig.yaml) → ``module:Class``."""

DRIVER_TRANSPORTS: dict[str, tuple[str, ...]] = {name: entry.transports for name, entry in DRIVER_TABLE.items()}
"""Transport kinds each driver can talk through (from :data:`DRIVER_TABLE`)."""


@dataclass(frozen=True)
class DriverInfo:
    """What the registry says about one driver, for ``rig bench check``, the docs table and rig.yaml checks.

    Attributes:
        name: the driver name rig.yaml uses.
        target: ``module:Class``.
        transports: transport kinds it speaks over.
        capabilities: capability names it implements (its class's ``CAPABILITIES``).
        description: the first line of its class docstring (product and what the driver does with it).
    """

    name: str
    target: str
    transports: tuple[str, ...]
    capabilities: tuple[str, ...]
    description: str

    def describe(self) -> str:
        """One line: ``description [capabilities; transports]``."""
        return f"{self.description} [{', '.join(self.capabilities)}; {' or '.join(self.transports)}]"


class OpenableInstrument(Instrument, Protocol):
    """A driver instance as built here: an :class:`Instrument` that is opened before it is handed out."""

    def open(self) -> None:
        """Open the transport and prepare the instrument."""
        ...


class DriverClass(Protocol):
    """A registered driver class: its name, docstring, capabilities and constructor."""

    __name__: str
    CAPABILITIES: tuple[str, ...]

    def __call__(self, role: str, transport: Transport, /, **params: Any) -> OpenableInstrument:
        """Build the driver for ``role`` on ``transport`` (not opened); ``params`` from rig.yaml."""
        ...


TransportClass = Callable[..., Transport]
"""A registered transport class: ``cls(role, **params)`` builds a transport (not opened)."""


def _load(table: dict[str, str], name: str, what: str) -> Any:
    """Import the ``module:Class`` registered as ``name`` (an attribute of a module imported by name: untyped)."""
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(sorted(table))}")
    module_name, _, class_name = table[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_driver(name: str) -> DriverClass:
    """Return the driver class registered as ``name`` (imports its module now); ValueError lists valid names."""
    driver: DriverClass = _load(DRIVERS, name, "instrument driver")
    return driver


def load_transport(kind: str) -> TransportClass:
    """Return the transport class registered as ``kind``; ValueError lists the valid kinds."""
    transport: TransportClass = _load(TRANSPORTS, kind, "transport kind")
    return transport


def capabilities_of(name: str) -> tuple[str, ...]:
    """Return the capability names (``AcSource``, ``EnergyMeter``, ...) the driver ``name`` implements."""
    return load_driver(name).CAPABILITIES


@functools.cache
def driver_info(name: str) -> DriverInfo:
    """Return what the registry knows of driver ``name`` (imports the driver module, no instrument library).

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    cls = load_driver(name)
    doc = (cls.__doc__ or "").strip()
    description = doc.splitlines()[0].replace("``", "") if doc else cls.__name__
    entry = DRIVER_TABLE[name]
    return DriverInfo(name, entry.target, entry.transports, capabilities_of(name), description)


def drivers_with(*capabilities: str) -> tuple[str, ...]:
    """Return the drivers implementing every one of ``capabilities`` (e.g. ``"RelayIo"``)."""
    return tuple(name for name in DRIVER_TABLE if set(capabilities) <= set(driver_info(name).capabilities))


def driver_table_markdown() -> str:
    """Return the driver table of ``docs/bench-protocols.md`` (Markdown), generated from the registry."""
    lines = ["| driver | class | transports | capabilities | description |", "|---|---|---|---|---|"]
    for name in DRIVER_TABLE:
        info = driver_info(name)
        cells = [
            f"`{name}`",
            f"`{info.target}`",
            ", ".join(info.transports),
            ", ".join(info.capabilities),
            info.description.replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def make_transport(kind: str, role: str, **params: Any) -> Transport:
    """Build (not open) a transport of ``kind`` for ``role``; ``params`` are the transport's keyword arguments."""
    cls = load_transport(kind)
    try:
        return cls(role, **params)
    except TypeError as exc:
        raise ValueError(f"role {role!r}: bad parameters for transport {kind!r}: {exc}") from None


def make_instrument(role: str, driver: str, transport: Transport, **params: Any) -> Instrument:
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


if __name__ == "__main__":
    print(driver_table_markdown(), end="")
