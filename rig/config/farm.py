"""The ``farm:`` section of rig.yaml: a bench taken from a labgrid bench farm for the run.

Where a lab outgrows one machine, its benches are labgrid places (labgrid 26.0.1: a coordinator, exporters
publishing each bench's resources, places grouping them, reservations and locks). With ``farm:`` present,
``rig run`` reserves a place (by ``tags`` or by name), acquires it under a labgrid identity of its own and fills the
addresses of the DUT and of the instrument roles from the place's resources, by the ``roles`` map below; the
drivers, transports' kinds and parameters stay those of ``instruments:`` (what an instrument *is*), the place says
*where* it is. The DUT's setup passcode stays in ``dut:`` (never a resource parameter, which every client of the
coordinator can read).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_WAIT_S = 24 * 3600.0
"""The longest a run may wait for a place, s."""
TAG_KEY = re.compile(r"[a-z][a-z0-9_]+")
"""A labgrid tag key (labgrid 26.0.1 client.py: ``[a-z][a-z0-9_]+``)."""
TAG_VALUE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
"""A tag value: labgrid barely checks them; the rig keeps them lowercase and plain."""
PLACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESOURCE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class _FarmSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        return {} if data is None else data


def _resource_name(value: str) -> str:
    if not RESOURCE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a resource name (letters, digits, '_', '.', '-'; at most 64)")
    return value


class FarmRoles(_FarmSection):
    """Which of the place's resources (their names in the place: labgrid's named matches) plays which rig role."""

    dut: str = Field(default="dut", description="The place's MatterDevice resource: the DUT.")
    instruments: dict[str, str] = Field(
        default_factory=dict,
        description="Instrument role (a key of `instruments:`) -> the place's resource giving its address "
        "(RigScpiSocket, RigModbusDevice or RigCanBoard).",
    )
    ev_emulator: str | None = Field(
        default=None,
        description="The place's RigEvEmulator resource; it names the role the EV emulator drives (its relay "
        "instrument or its CAN board), which must agree with ev_emulator.via.",
    )

    @field_validator("dut")
    @classmethod
    def _check_dut(cls, value: str) -> str:
        return _resource_name(value)

    @field_validator("instruments")
    @classmethod
    def _check_instruments(cls, value: dict[str, str]) -> dict[str, str]:
        for role, name in value.items():
            if not role.isidentifier():
                raise ValueError(f"role {role!r} is not an identifier")
            _resource_name(name)
        names = list(value.values())
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"one resource cannot play two roles: {', '.join(dupes)}")
        return value


class FarmConfig(_FarmSection):
    """A bench from a labgrid farm (see the module's docstring)."""

    coordinator: str | None = Field(
        default=None,
        description="The labgrid coordinator, HOST:PORT; null = $LG_COORDINATOR, else 127.0.0.1:20408 (labgrid's).",
    )
    place: str | None = Field(default=None, description="Take this place by name (instead of tags).")
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Reserve any place whose tags include these (labgrid reservation filter), e.g. {rig: virtual}.",
    )
    wait: float = Field(default=600.0, gt=0, le=MAX_WAIT_S, description="How long to wait for a place, s.")
    lease_ttl: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="The run's lease on the place: its heartbeat in the results database is renewed every quarter "
        "of this; a lease older than this (or whose process is gone) is freed by `rig lab reap`, s.",
    )
    reset_wait: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="How long a run that acquired a place waits for its bench's reset after the last release "
        "(a RigBenchControl resource saying resetting: true), s.",
    )
    roles: FarmRoles = Field(default_factory=FarmRoles)

    @field_validator("coordinator")
    @classmethod
    def _check_coordinator(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. lab-coord:20408)")
        return value

    @field_validator("place")
    @classmethod
    def _check_place(cls, value: str | None) -> str | None:
        if value is not None and not PLACE_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a place name (letters, digits, '_', '.', '-'; at most 64)")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _check_tags(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
                    raise ValueError(f"tag key {key!r} must match [a-z][a-z0-9_]+ (labgrid's rule)")
                text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
                if not isinstance(text, str) or not TAG_VALUE.fullmatch(text):
                    raise ValueError(f"tag {key}: value {item!r} must be lowercase letters, digits, '_', '.', '-'")
            return {k: str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _place_or_tags(self) -> FarmConfig:
        if (self.place is None) == (not self.tags):
            raise ValueError("give exactly one of place (a name) and tags (a reservation filter)")
        return self

    def selection(self) -> str:
        """How the place is chosen, for messages: ``place bench-07`` or ``tags rig=virtual``."""
        if self.place is not None:
            return f"place {self.place}"
        return "tags " + " ".join(f"{k}={v}" for k, v in sorted(self.tags.items()))
