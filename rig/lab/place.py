"""From an acquired place's resources to the run's bench: which resource plays which role, at which address.

rig.yaml's ``instruments:`` says what each role *is* (driver, transport kind, parameters); the place says *where* it
is. :func:`bench_from_place` turns the resources into dotted rig.yaml overrides (the same ones ``--set`` gives, so the
run inside the sandbox reads them as it reads any override) and names what the run record keeps of the place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rig.config import RigConfig
from rig.lab.coordinator import ExportedResource, FarmError
from rig.lab.resources import Endpoint, endpoint_of

TRANSPORT_CLASSES = {"visa": "RigScpiSocket", "modbus_tcp": "RigModbusDevice", "can": "RigCanBoard"}
"""The resource class that gives each transport kind its address."""

Resolve = Callable[[str, dict[str, Any], dict[str, Any]], Endpoint]


@dataclass(frozen=True)
class FarmBench:
    """The bench a farm run got.

    Attributes:
        place: the place's name; ``exporters``: the exporters of its resources.
        overrides: dotted rig.yaml paths -> values (instrument addresses, the DUT's node id and discriminator).
        netns: the network namespace on this host that is the bench's network, or "" (the lab network).
        dut_address: the DUT's address as its resource gives it.
        roles: role -> ``exporter/group/cls/name`` of the resource that plays it (for the run record).
    """

    place: str
    exporters: tuple[str, ...]
    overrides: dict[str, Any]
    netns: str = ""
    dut_address: str = ""
    roles: dict[str, str] = field(default_factory=dict)

    def describe(self, labgrid_version: str, owner: str) -> dict[str, Any]:
        """What the run record keeps of the farm."""
        return {
            "place": self.place,
            "exporters": list(self.exporters),
            "owner": owner,
            "labgrid": labgrid_version,
            "dut_address": self.dut_address,
            "roles": dict(self.roles),
        }


def bench_from_place(
    config: RigConfig, place: str, resources: Sequence[ExportedResource], resolve: Resolve = endpoint_of
) -> FarmBench:
    """Map ``resources`` of ``place`` to the roles of ``config.farm.roles``.

    Raises:
        FarmError: a mapped resource is missing from the place or of a class that cannot give its role's address;
            the message names the role, the resource and what the place holds.
    """
    farm = config.farm
    assert farm is not None
    by_name = {r.name: r for r in resources}
    held = ", ".join(f"{r.name} ({r.cls})" for r in resources) or "nothing"

    def get(name: str, cls: str, role: str) -> ExportedResource:
        res = by_name.get(name)
        if res is None:
            raise FarmError(f"place {place}: no resource {name!r} for {role}; the place holds {held}")
        if res.cls != cls:
            raise FarmError(f"place {place}: resource {name!r} for {role} is a {res.cls}, not a {cls}")
        return res

    overrides: dict[str, Any] = {}
    roles: dict[str, str] = {}
    used: list[ExportedResource] = []
    dut = get(farm.roles.dut, "MatterDevice", "the DUT")
    used.append(dut)
    roles["dut"] = _path(dut)
    for key in ("node_id", "discriminator"):
        if key in dut.params:
            overrides[f"dut.{key}"] = int(dut.params[key])
    for role, name in farm.roles.instruments.items():
        kind = config.instruments[role].transport.kind
        cls = TRANSPORT_CLASSES.get(kind)
        if cls is None:
            raise FarmError(f"instrument role {role}: a {kind} transport cannot come from a farm place (only "
                            f"{', '.join(TRANSPORT_CLASSES)})")  # fmt: skip
        res = get(name, cls, f"instrument role {role}")
        used.append(res)
        roles[role] = _path(res)
        prefix = f"instruments.{role}.transport"
        if kind == "can":
            for key in ("interface", "channel", "bitrate"):
                if key in res.params:
                    overrides[f"{prefix}.{key}"] = res.params[key]
            continue
        end = resolve(res.cls, res.params, res.extra)
        if kind == "visa":
            host = f"[{end.host}]" if ":" in end.host else end.host
            overrides[f"{prefix}.resource"] = f"TCPIP0::{host}::{end.port}::SOCKET"
        else:
            overrides[f"{prefix}.host"] = end.host
            overrides[f"{prefix}.port"] = end.port
            if "unit" in res.params:
                overrides[f"{prefix}.unit"] = int(res.params["unit"])
    if farm.roles.ev_emulator is not None:
        ev = get(farm.roles.ev_emulator, "RigEvEmulator", "the EV emulator")
        used.append(ev)
        via = str(ev.params.get("via", ""))
        role_of = {name: role for role, name in farm.roles.instruments.items()}
        want = config.ev_emulator.via if config.ev_emulator is not None else None
        if role_of.get(via) != want:
            raise FarmError(f"place {place}: its EV emulator drives {via!r} (role {role_of.get(via)}), but "
                            f"ev_emulator.via is {want}")  # fmt: skip
        roles["ev_emulator"] = _path(ev)
    return FarmBench(
        place=place,
        exporters=tuple(sorted({r.exporter for r in used})),
        overrides=overrides,
        netns=str(dut.params.get("netns") or ""),
        dut_address=str(dut.params.get("host", "")),
        roles=roles,
    )


def _path(res: ExportedResource) -> str:
    return f"{res.exporter}/{res.group}/{res.cls}/{res.name}"
