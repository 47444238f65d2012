"""What the energy-meter drivers share: the plausible range of each quantity and the refusal of a reading outside
it (or not a number), naming the role, the address, the request and the value.

The ranges are sanity bounds for an EV charging bench (a reading outside them is a wiring, scaling or model mistake,
never a measurement to pass on); they are not instrument specifications.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from rig.instruments.driver_base import Driver


class Quantity(NamedTuple):
    """One measured quantity: its name in messages, its unit and the range a real reading falls in."""

    name: str
    unit: str
    low: float
    high: float


VOLTAGE = Quantity("voltage", "V", 0.0, 1000.0)
CURRENT = Quantity("current", "A", -10_000.0, 10_000.0)
POWER = Quantity("active power", "W", -10_000_000.0, 10_000_000.0)
FREQUENCY = Quantity("frequency", "Hz", 0.0, 100.0)
ENERGY = Quantity("energy", "Wh", 0.0, 1e12)


def checked(driver: Driver[Any], value: float, quantity: Quantity, source: str) -> float:
    """Return ``value`` if it is a number within the quantity's range; else raise InstrumentError naming ``source``
    (the register or item it came from), the value, and the driver's role, address and last request."""
    if not math.isfinite(value):
        raise driver._error(
            f"{source} gave {value!r} for the {quantity.name}: not a number, the instrument has no valid value "
            "(input not wired, out of range, or integration not running)"
        )
    if not quantity.low <= value <= quantity.high:
        raise driver._error(
            f"{source} gave {value:g} {quantity.unit} for the {quantity.name}, outside {quantity.low:g}.."
            f"{quantity.high:g} {quantity.unit}: check the wiring, the scaling and that the role names this model"
        )
    return value
