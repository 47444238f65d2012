"""The bench part of rig.yaml: instrument roles (driver + transport + params) and the EV emulator wiring.

Split from :mod:`rig.config` along the seam "which instruments stand on the bench and how they are wired";
:class:`rig.config.RigConfig` holds these sections and checks the cross-references between them.

``transport`` is a union discriminated on ``kind``; each kind has its own strict fields and defaults. Driver
names, the transport kinds each speaks and what each offers come from the instrument registry
(:mod:`rig.instruments.registry`, which imports no instrument library); EV emulator channel names from
:mod:`rig.ev_emulator.channels`.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict, JsonValue

from rig.config.messages import LocatedErrors
from rig.ev_emulator.channels import EV_CHANNELS as EV_CHANNELS  # rig.yaml's wiring keys (re-exported)
from rig.ev_emulator.channels import REQUIRED_CHANNELS as REQUIRED_CHANNELS
from rig.instruments import registry


def driver_transports() -> dict[str, tuple[str, ...]]:
    """Return driver name -> transport kinds it speaks over (the instrument registry's ``DRIVER_TRANSPORTS``)."""
    return dict(registry.DRIVER_TRANSPORTS)


def driver_names() -> list[str]:
    """Return the valid driver names (the instrument registry's, in its order)."""
    return list(registry.DRIVERS)


def _driver_enum(schema: JsonDict) -> None:
    """JSON schema of ``driver``: the registry's names as its allowed values (filled when the schema is made)."""
    names: list[JsonValue] = [*driver_names()]
    schema["enum"] = names


def ev_board_drivers() -> tuple[str, ...]:
    """Return the drivers offering ``EvEmulatorBoard`` (the EV emulator needs no wiring on them)."""
    return registry.drivers_with("EvEmulatorBoard")


def relay_drivers() -> tuple[str, ...]:
    """Return the drivers offering ``RelayIo`` (the EV emulator drives them through ``wiring``)."""
    return registry.drivers_with("RelayIo")


def pilot_meter_drivers() -> tuple[str, ...]:
    """Return the drivers offering ``PilotMeter`` (``ev_emulator.pilot``)."""
    return registry.drivers_with("PilotMeter")


MAX_TRANSPORT_TIMEOUT_S = 600.0
"""The longest timeout of one instrument exchange, s."""


def _check_finite(value: Any, where: str = "") -> None:
    """Refuse a non-finite number or an integer beyond 64 bits anywhere in free-form ``params``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where or 'value'}: {value} is not a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ValueError(f"{where or 'value'}: {value} does not fit in 64 bits")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{where}[{i}]")


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is a number (int or float, optional or annotated) and not also a bool."""
    if annotation in (int, float):
        return True
    args = typing.get_args(annotation)
    return bool(args) and bool not in args and any(_numeric(a) for a in args)


def refuse_bool_numbers(model: type[BaseModel], data: Any) -> Any:
    """A YAML ``true``/``false`` where a number belongs is an error (pydantic would read it as 1/0)."""
    if isinstance(data, dict):
        for key, value in data.items():
            field = model.model_fields.get(key) if isinstance(key, str) else None
            if isinstance(value, bool) and field is not None and _numeric(field.annotation):
                raise ValueError(f"{key}: expected a number, got {str(value).lower()}")
    return data


class _Strict(BaseModel):
    """Strict keys, immutable; a section written empty (``params:``) means its defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        return refuse_bool_numbers(cls, {} if data is None else data)


# ------------------------------------------------------------------------------------------------ transports
class VisaTransportConfig(_Strict):
    """SCPI over VISA (LXI/VXI-11 ``...::INSTR``, raw socket ``...::SOCKET``, USBTMC, GPIB, serial)."""

    kind: Literal["visa"]
    resource: str = Field(min_length=1, description="VISA resource, e.g. TCPIP0::192.168.10.21::inst0::INSTR.")
    visa_library: str = Field(default="@py", description="VISA backend: @py = pyvisa-py, @ivi = vendor VISA.")
    timeout_s: float = Field(default=5.0, gt=0, le=MAX_TRANSPORT_TIMEOUT_S, description="Timeout of one exchange, s.")
    read_termination: str = Field(default="\n", description="Answer terminator.")
    write_termination: str = Field(default="\n", description="Command terminator.")


class ModbusTcpTransportConfig(_Strict):
    """Modbus TCP (one unit id of one server)."""

    kind: Literal["modbus_tcp"]
    host: str = Field(min_length=1, description="Host name or IP address.")
    port: int = Field(default=502, ge=1, le=65535, description="TCP port.")
    unit: int = Field(default=1, ge=0, le=255, description="Modbus unit (slave) id.")
    timeout_s: float = Field(default=2.0, gt=0, le=MAX_TRANSPORT_TIMEOUT_S, description="Timeout of one request, s.")


class ModbusRtuTransportConfig(_Strict):
    """Modbus RTU on a serial line (e.g. a USB-RS485 adapter)."""

    kind: Literal["modbus_rtu"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/ttyUSB0 or COM3.")
    baudrate: int = Field(default=9600, gt=0, le=10_000_000, description="Bits per second.")
    parity: Literal["N", "E", "O"] = Field(default="N", description="N none, E even, O odd.")
    stopbits: Literal[1, 2] = Field(default=1, description="Stop bits.")
    unit: int = Field(default=1, ge=1, le=247, description="Modbus unit (slave) id.")
    timeout_s: float = Field(default=1.0, gt=0, le=MAX_TRANSPORT_TIMEOUT_S, description="Timeout of one request, s.")


class CanTransportConfig(_Strict):
    """CAN through python-can (socketcan, pcan, kvaser, vector, udp_multicast for the virtual bench...)."""

    kind: Literal["can"]
    interface: str = Field(min_length=1, description="python-can interface name, e.g. socketcan, udp_multicast.")
    channel: str = Field(min_length=1, description="Channel, e.g. can0, PCAN_USBBUS1, or a multicast group.")
    bitrate: int = Field(
        default=500_000, gt=0, le=10_000_000, description="Bit rate, bit/s (ignored by virtual interfaces)."
    )
    timeout_s: float = Field(
        default=1.0, gt=0, le=MAX_TRANSPORT_TIMEOUT_S, description="Timeout waiting for an answer frame, s."
    )

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

TRANSPORT_KINDS: tuple[str, ...] = tuple(registry.TRANSPORTS)
"""The transport kinds (the registry's; the ``kind`` values of :data:`TransportConfig`, checked by a test)."""


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

    driver: str = Field(
        description="Driver name from the instrument registry, e.g. chroma_61500.",
        json_schema_extra=_driver_enum,
    )
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
        value = {} if value is None else value
        _check_finite(value)
        return value

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
    """The IEC 61851-1 EV emulator: on a relay role (with wiring) and a pilot meter role, or on an EV emulator board."""

    via: str = Field(description="Role of a RelayIo instrument (with wiring) or an EvEmulatorBoard.")
    pilot: str | None = Field(
        default=None,
        description="Role measuring the pilot (a PilotMeter: the oscilloscope or a LabJack T7); required with a "
        "relay instrument, optional with a board (which measures it itself).",
    )
    wiring: dict[str, int] | None = Field(
        default=None,
        description=f"Channel -> relay number (1-based); channels: {', '.join(EV_CHANNELS)}. Required on relays.",
        json_schema_extra={"propertyNames": {"enum": list(EV_CHANNELS)}},
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
    boards, relays, meters = ev_board_drivers(), relay_drivers(), pilot_meter_drivers()
    capable = [r for r, i in instruments.items() if i.driver in boards + relays]
    target = instruments.get(ev_emulator.via)
    if target is None:
        declared = ", ".join(roles) or "none declared"
        problems.append((("ev_emulator", "via"), f"no instrument role {ev_emulator.via!r}; declared roles: {declared}"))
        return problems
    if target.driver in boards:
        if ev_emulator.wiring:
            problems.append(
                (
                    ("ev_emulator", "wiring"),
                    f"role {ev_emulator.via!r} is an EV emulator board ({target.driver}); it switches its own "
                    "relays, remove wiring",
                )
            )
    elif target.driver in relays or target.driver not in driver_transports():
        if not ev_emulator.wiring:
            problems.append(
                (
                    ("ev_emulator", "wiring"),
                    f"required when via is a relay instrument ({ev_emulator.via}: {target.driver}); map channels "
                    f"{', '.join(EV_CHANNELS)} to relay numbers",
                )
            )
        if ev_emulator.pilot is None:
            suitable = [r for r, i in instruments.items() if i.driver in meters]
            problems.append(
                (
                    ("ev_emulator", "pilot"),
                    f"required when via is a relay instrument ({ev_emulator.via}: {target.driver}): the role "
                    f"measuring the pilot; suitable roles: {', '.join(suitable) or 'none declared'}",
                )
            )
    else:
        problems.append(
            (
                ("ev_emulator", "via"),
                f"role {ev_emulator.via!r} ({target.driver}) offers neither RelayIo nor an EV emulator board; "
                f"suitable roles: {', '.join(capable) or 'none declared'}",
            )
        )
    if ev_emulator.pilot is not None:
        meter = instruments.get(ev_emulator.pilot)
        suitable = [r for r, i in instruments.items() if i.driver in meters]
        if meter is None:
            problems.append(
                (
                    ("ev_emulator", "pilot"),
                    f"no instrument role {ev_emulator.pilot!r}; roles measuring the pilot: "
                    f"{', '.join(suitable) or 'none declared'}",
                )
            )
        elif meter.driver in driver_transports() and meter.driver not in meters:
            problems.append(
                (
                    ("ev_emulator", "pilot"),
                    f"role {ev_emulator.pilot!r} ({meter.driver}) cannot measure the pilot; roles that can: "
                    f"{', '.join(suitable) or 'none declared'}",
                )
            )
    return problems


# --------------------------------------------------------------------------------------------- virtual bench
_SOCKET_RESOURCE = re.compile(r"TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET", re.IGNORECASE)


MIRRORED_PARAMS = ("slot", "relay_count", "coil_base", "channels", "dio", "ain", "ain_divider")
"""Driver params the virtual bench's server is built with too: where a module sits (DAQ970A ``slot``), how many
relays it has and where its coils start, which plant signal each scope input probes (``channels``), which LabJack
lines carry the pilot and its divider (``dio``, ``ain``, ``ain_divider``)."""


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
        for key in MIRRORED_PARAMS:  # what the instrument is configured as, the server must be built as
            if key in inst.params:
                entry.setdefault("params", {})[key] = inst.params[key]
        if ev_emulator is not None and ev_emulator.via == role and ev_emulator.wiring:
            entry["wiring"] = dict(ev_emulator.wiring)
        roles[role] = entry
    spec: dict[str, Any] = {"roles": roles}
    if ev_emulator is not None:
        spec["plant"] = {"phases": ev_emulator.phases, "ev_max_current_a": ev_emulator.ev_max_current_a}
    return spec
