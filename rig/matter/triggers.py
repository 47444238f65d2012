"""Energy EVSE test event trigger codes and their encoding (no dependency on ``chip``).

Codes per the Matter SDK's EnergyEvseTestEventTriggerHandler. The newer test framework carries the target
endpoint in bits 32-47 of the 64-bit trigger; the legacy form leaves those bits zero.
"""

from __future__ import annotations

import enum

ENDPOINT_SHIFT = 32
ENDPOINT_MASK = 0xFFFF << ENDPOINT_SHIFT


class Trigger(enum.IntEnum):
    """The Energy EVSE test event triggers (legacy form, endpoint bits zero)."""

    BASIC = 0x0099000000000000
    BASIC_CLEAR = 0x0099000000000001
    PLUGGED_IN = 0x0099000000000002
    PLUGGED_IN_CLEAR = 0x0099000000000003
    CHARGE_DEMAND = 0x0099000000000004
    CHARGE_DEMAND_CLEAR = 0x0099000000000005
    TIME_OF_USE_MODE = 0x0099000000000006
    GROUND_FAULT = 0x0099000000000010
    OVER_TEMPERATURE_FAULT = 0x0099000000000011
    FAULT_CLEAR = 0x0099000000000012
    DIAGNOSTICS_COMPLETE = 0x0099000000000020
    TIME_OF_USE_MODE_CLEAR = 0x0099000000000021
    SOC_LOW = 0x0099000000000030
    SOC_HIGH = 0x0099000000000031
    SOC_CLEAR = 0x0099000000000032
    VEHICLE_ID = 0x0099000000000040
    RFID = 0x0099000000000050

    @property
    def label(self) -> str:
        """The kebab-case name used on the command line, e.g. ``plugged-in``."""
        return self.name.lower().replace("_", "-")


def encode(trigger: int, endpoint: int | None) -> int:
    """The 64-bit trigger to send: legacy when ``endpoint`` is None, else the endpoint in bits 32-47."""
    if not 0 <= trigger < 1 << 64:
        raise ValueError(f"trigger 0x{trigger:x} is not a 64-bit value")
    if endpoint is None:
        return trigger
    if not 0 <= endpoint <= 0xFFFF:
        raise ValueError(f"endpoint {endpoint} does not fit bits 32-47 (0..65535)")
    return (trigger & ~ENDPOINT_MASK) | (endpoint << ENDPOINT_SHIFT)


def decode(value: int) -> tuple[int, int]:
    """Split a sent trigger into (legacy code, endpoint)."""
    return value & ~ENDPOINT_MASK, (value & ENDPOINT_MASK) >> ENDPOINT_SHIFT


def parse(text: str) -> int:
    """A trigger from its name (``plugged-in``, ``PLUGGED_IN``) or a number (``0x0099000000000002``).

    Raises:
        ValueError: unknown name, naming the known ones.
    """
    key = text.strip()
    try:
        value = int(key, 0)
    except ValueError:
        pass
    else:
        if not 0 <= value < 1 << 64:
            raise ValueError(f"trigger {text!r} is not a 64-bit value")
        return value
    name = key.upper().replace("-", "_")
    if name in Trigger.__members__:
        return int(Trigger[name])
    known = ", ".join(t.label for t in Trigger)
    raise ValueError(f"unknown test event trigger {text!r}; known: {known} (or a number such as 0x0099000000000002)")
