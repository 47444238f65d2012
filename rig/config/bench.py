"""The bench part of rig.yaml: instrument roles (driver + transport + params) and the EV emulator wiring.

Split from :mod:`rig.config` along the seam "which instruments stand on the bench and how they are wired";
:class:`rig.config.RigConfig` holds these sections and checks the cross-references between them.

``transport`` is a union discriminated on ``kind``; each kind has its own strict fields and defaults. Driver
names are checked against the instrument registry (``rig.instruments.registry``) when it is importable, else
against :data:`KNOWN_DRIVERS`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rig.config.messages import LocatedErrors

KNOWN_DRIVERS: dict[str, tuple[str, ...]] = {
    "scpi_ac_source": ("visa",),
    "chroma_61500": ("visa",),
    "eastron_sdm630": ("modbus_tcp", "modbus_rtu"),
    "carlo_gavazzi_em340": ("modbus_tcp", "modbus_rtu"),
    "yokogawa_wt": ("visa",),
    "modbus_relay_io": ("modbus_tcp", "modbus_rtu"),
    "keysight_daq970a": ("visa",),
    "can_ev_board": ("can",),
}
"""Driver name -> transport kinds it speaks over. Fallback list (and compatibility table) used when
``rig.instruments.registry`` cannot be imported; keep in step with the registry."""

EV_BOARD_DRIVERS = frozenset({"can_ev_board"})
"""Drivers offering ``EvEmulatorBoard`` (the EV emulator needs no wiring on them)."""

RELAY_PILOT_DRIVERS = frozenset({"modbus_relay_io", "keysight_daq970a"})
"""Drivers offering ``RelayIo`` + ``PilotCapture`` (the EV emulator drives them through ``wiring``)."""

EV_CHANNELS: tuple[str, ...] = (
    "cp_connect",
    "s2_c",
    "s2_d",
    "diode_bypass",
    "cp_pe_short",
    "pe_break",
    "rcd_ac_30ma",
    "rcd_dc_6ma",
    "pp_100",
    "pp_220",
    "pp_680",
    "pp_1500",
)
"""EV emulator channel names (docs/bench-protocols.md section 3)."""

REQUIRED_CHANNELS: tuple[str, ...] = ("cp_connect", "s2_c")
"""Channels without which the emulator cannot even plug in and ask for charge (A, B, C)."""


def driver_transports() -> dict[str, tuple[str, ...]]:
    """Return driver name -> transport kinds: the registry's ``DRIVER_TRANSPORTS`` when importable, else
    :data:`KNOWN_DRIVERS` (drivers the registry lists without kinds accept any kind)."""
    try:
        registry = importlib.import_module("rig.instruments.registry")
    except ImportError:
        return dict(KNOWN_DRIVERS)
    drivers = getattr(registry, "DRIVERS", None)
    kinds = getattr(registry, "DRIVER_TRANSPORTS", None)
    if not isinstance(drivers, Mapping):
        return dict(KNOWN_DRIVERS)
    kinds = kinds if isinstance(kinds, Mapping) else {}
    return {str(name): tuple(kinds.get(name, TRANSPORT_KINDS)) for name in drivers}


def driver_names() -> list[str]:
    """Return the valid driver names (the instrument registry's, else :data:`KNOWN_DRIVERS`)."""
    return list(driver_transports())


class _Strict(BaseModel):
    """Strict keys, immutable; a section written empty (``params:``) means its defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        return {} if data is None else data


# ------------------------------------------------------------------------------------------------ transports
class VisaTransportConfig(_Strict):
    """SCPI over VISA (LXI/VXI-11 ``...::INSTR``, raw socket ``...::SOCKET``, USBTMC, GPIB, serial)."""

    kind: Literal["visa"]
    resource: str = Field(min_length=1, description="VISA resource, e.g. TCPIP0::192.168.10.21::inst0::INSTR.")
    visa_library: str = Field(default="@py", description="VISA backend: @py = pyvisa-py, @ivi = vendor VISA.")
    timeout_s: float = Field(default=5.0, gt=0, description="Timeout of one exchange, s.")
    read_termination: str = Field(default="\n", description="Answer terminator.")
    write_termination: str = Field(default="\n", description="Command terminator.")


class ModbusTcpTransportConfig(_Strict):
    """Modbus TCP (one unit id of one server)."""

    kind: Literal["modbus_tcp"]
    host: str = Field(min_length=1, description="Host name or IP address.")
    port: int = Field(default=502, ge=1, le=65535, description="TCP port.")
    unit: int = Field(default=1, ge=0, le=255, description="Modbus unit (slave) id.")
    timeout_s: float = Field(default=2.0, gt=0, description="Timeout of one request, s.")


class ModbusRtuTransportConfig(_Strict):
    """Modbus RTU on a serial line (e.g. a USB-RS485 adapter)."""

    kind: Literal["modbus_rtu"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/ttyUSB0 or COM3.")
    baudrate: int = Field(default=9600, gt=0, description="Bits per second.")
    parity: Literal["N", "E", "O"] = Field(default="N", description="N none, E even, O odd.")
    stopbits: Literal[1, 2] = Field(default=1, description="Stop bits.")
    unit: int = Field(default=1, ge=1, le=247, description="Modbus unit (slave) id.")
    timeout_s: float = Field(default=1.0, gt=0, description="Timeout of one request, s.")


class CanTransportConfig(_Strict):
    """CAN through python-can (socketcan, pcan, kvaser, vector, udp_multicast for the virtual bench...)."""

    kind: Literal["can"]
    interface: str = Field(min_length=1, description="python-can interface name, e.g. socketcan, udp_multicast.")
    channel: str = Field(min_length=1, description="Channel, e.g. can0, PCAN_USBBUS1, or a multicast group.")
    bitrate: int = Field(default=500_000, gt=0, description="Bit rate, bit/s (ignored by virtual interfaces).")
    timeout_s: float = Field(default=1.0, gt=0, description="Timeout waiting for an answer frame, s.")

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_text(cls, value: Any) -> Any:
        # `channel: 0` (a Vector/Kvaser channel number) is an int in YAML.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


TransportConfig = Annotated[
    VisaTransportConfig | ModbusTcpTransportConfig | ModbusRtuTransportConfig | CanTransportConfig,
    Field(discriminator="kind"),
]
"""One transport, chosen by ``kind``: visa | modbus_tcp | modbus_rtu | can."""

TRANSPORT_KINDS: tuple[str, ...] = ("visa", "modbus_tcp", "modbus_rtu", "can")


def transport_params(transport: TransportConfig) -> dict[str, Any]:
    """Return the keyword arguments for ``make_transport(kind, role, **params)`` (unset optionals left out)."""
    return transport.model_dump(exclude={"kind"}, exclude_none=True)


def transport_address(transport: TransportConfig) -> str:
    """Return a short address for messages: VISA resource, host:port/unit, port/unit, interface:channel."""
    if isinstance(transport, VisaTransportConfig):
        return transport.resource
    if isinstance(transport, ModbusTcpTransportConfig):
        return f"{transport.host}:{transport.port}/unit {transport.unit}"
    if isinstance(transport, ModbusRtuTransportConfig):
        return f"{transport.port}/unit {transport.unit}"
    return f"{transport.interface}:{transport.channel}"


# ---------------------------------------------------------------------------------------------- instruments
class InstrumentConfig(_Strict):
    """One instrument role: which driver, over which transport, with which driver parameters."""

    driver: str = Field(description="Driver name from the instrument registry, e.g. chroma_61500.")
    transport: TransportConfig
    params: dict[str, Any] = Field(default_factory=dict, description="Driver-specific parameters.")

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        valid = driver_names()
        if value not in valid:
            raise ValueError(f"unknown driver {value!r}; valid drivers: {', '.join(valid)}")
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _empty_params(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _driver_speaks_transport(self) -> InstrumentConfig:
        kinds = driver_transports().get(self.driver)
        if kinds is not None and self.transport.kind not in kinds:
            raise LocatedErrors(
                [
                    (
                        ("transport", "kind"),
                        f"driver {self.driver} does not speak {self.transport.kind}; use {' or '.join(kinds)}",
                    )
                ]
            )
        return self

    @property
    def address(self) -> str:
        """Get the transport address for messages."""
        return transport_address(self.transport)


# ------------------------------------------------------------------------------------------------ EV emulator
class EvEmulatorConfig(_Strict):
    """The IEC 61851-1 EV emulator: on a relay+pilot-capture role (with wiring) or on an EV emulator board."""

    via: str = Field(description="Role of a RelayIo+PilotCapture instrument (with wiring) or an EvEmulatorBoard.")
    wiring: dict[str, int] | None = Field(
        default=None,
        description=f"Channel -> relay number (1-based); channels: {', '.join(EV_CHANNELS)}. Required on relays.",
    )
    ev_max_current_a: float = Field(default=32.0, gt=0, le=80, description="Current the emulated EV accepts, A.")
    phases: Literal[1, 3] = Field(default=1, description="Phases the emulated EV charges on.")

    @field_validator("wiring")
    @classmethod
    def _check_wiring(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is None:
            return None
        problems: list[str] = []
        unknown = [name for name in value if name not in EV_CHANNELS]
        if unknown:
            problems.append(
                f"unknown channel {', '.join(repr(n) for n in unknown)}; allowed channels: {', '.join(EV_CHANNELS)}"
            )
        missing = [name for name in REQUIRED_CHANNELS if name not in value]
        if missing:
            problems.append(f"channel {', '.join(missing)} must be wired (the emulator cannot plug in without it)")
        bad = [f"{name}: {relay}" for name, relay in value.items() if relay < 1]
        if bad:
            problems.append(f"relay numbers start at 1, got {', '.join(bad)}")
        by_relay: dict[int, list[str]] = {}
        for name, relay in value.items():
            by_relay.setdefault(relay, []).append(name)
        shared = [f"relay {relay} ({', '.join(names)})" for relay, names in by_relay.items() if len(names) > 1]
        if shared:
            problems.append(f"each relay serves one channel; used twice: {'; '.join(shared)}")
        if problems:
            raise ValueError("; ".join(problems))
        return value


def check_bench(
    instruments: Mapping[str, InstrumentConfig], ev_emulator: EvEmulatorConfig | None, stimulus: str
) -> list[tuple[tuple[str | int, ...], str]]:
    """Check the cross-references between ``instruments``, ``ev_emulator`` and ``stimulus``.

    Returns:
        ``(yaml location, message)`` per problem; empty when consistent.
    """
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if stimulus == "emulator" and ev_emulator is None:
        problems.append((("stimulus",), "'emulator' needs an ev_emulator section (via: <role>, wiring: ...)"))
    if ev_emulator is None:
        return problems
    roles = list(instruments)
    capable = [r for r, i in instruments.items() if i.driver in EV_BOARD_DRIVERS | RELAY_PILOT_DRIVERS]
    target = instruments.get(ev_emulator.via)
    if target is None:
        declared = ", ".join(roles) or "none declared"
        problems.append((("ev_emulator", "via"), f"no instrument role {ev_emulator.via!r}; declared roles: {declared}"))
        return problems
    if target.driver in EV_BOARD_DRIVERS:
        if ev_emulator.wiring:
            problems.append(
                (
                    ("ev_emulator", "wiring"),
                    f"role {ev_emulator.via!r} is an EV emulator board ({target.driver}); it switches its own "
                    "relays, remove wiring",
                )
            )
    elif target.driver in RELAY_PILOT_DRIVERS or target.driver not in driver_transports():
        if not ev_emulator.wiring:
            problems.append(
                (
                    ("ev_emulator", "wiring"),
                    f"required when via is a relay instrument ({ev_emulator.via}: {target.driver}); map channels "
                    f"{', '.join(EV_CHANNELS)} to relay numbers",
                )
            )
    else:
        problems.append(
            (
                ("ev_emulator", "via"),
                f"role {ev_emulator.via!r} ({target.driver}) offers neither RelayIo+PilotCapture nor an EV "
                f"emulator board; suitable roles: {', '.join(capable) or 'none declared'}",
            )
        )
    return problems


# --------------------------------------------------------------------------------------------- virtual bench
_SOCKET_RESOURCE = re.compile(r"TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET", re.IGNORECASE)


def virtual_bench_spec(
    instruments: Mapping[str, InstrumentConfig], ev_emulator: EvEmulatorConfig | None
) -> dict[str, Any]:
    """Return the spec of ``rig.sim.virtual_bench`` serving these roles at the addresses rig.yaml gives them.

    SCPI roles must use raw-socket VISA resources (``TCPIP0::<host>::<port>::SOCKET``), Modbus roles Modbus TCP,
    the EV board a python-can interface the simulator can join (``udp_multicast``, default port 43113).

    Raises:
        ValueError: a role whose transport the virtual bench cannot serve (message names the role).
    """
    roles: dict[str, dict[str, Any]] = {}
    for role, inst in instruments.items():
        t = inst.transport
        entry: dict[str, Any] = {"driver": inst.driver}
        if isinstance(t, VisaTransportConfig):
            match = _SOCKET_RESOURCE.fullmatch(t.resource)
            if match is None:
                raise ValueError(
                    f"instruments.{role}.transport.resource: the virtual bench serves SCPI on raw sockets; use "
                    f"TCPIP0::127.0.0.1::<port>::SOCKET, got {t.resource!r}"
                )
            entry.update(host=match["host"], port=int(match["port"]))
        elif isinstance(t, ModbusTcpTransportConfig):
            entry.update(host=t.host, port=t.port, params={"unit_id": t.unit})
        elif isinstance(t, CanTransportConfig):
            entry.update(channel=t.channel, params={"interface": t.interface})
        else:
            raise ValueError(f"instruments.{role}.transport.kind: the virtual bench cannot serve {t.kind}")
        if "relay_base" in inst.params:
            entry.setdefault("params", {})["relay_base"] = inst.params["relay_base"]
        if ev_emulator is not None and ev_emulator.via == role and ev_emulator.wiring:
            entry["wiring"] = dict(ev_emulator.wiring)
        roles[role] = entry
    spec: dict[str, Any] = {"roles": roles}
    if ev_emulator is not None:
        spec["plant"] = {"phases": ev_emulator.phases, "ev_max_current_a": ev_emulator.ev_max_current_a}
    return spec
