"""The Energy EVSE attributes as spec/EnergyEVSE.xml states them (``rig.spec``), for the cases that check stored
values: their declared defaults (factory-new) and their persistence quality (``nonVolatile`` or ``volatile``).

Which attributes a case checks is the XML's list filtered by the DUT's PICS (the file's, or derived from the DUT's
AttributeList without one); an attribute the DUT does not have is named with the reason, never silently left out.
"""

from __future__ import annotations

from typing import Any

from rig.matter.eevse import is_null
from rig.pics import attribute_code
from rig.spec import energy_evse
from rig.spec.model import Attribute

CLUSTER = energy_evse()

NULL = "null"
"""A null value as a measurement (spelt out, so that it is compared too)."""


def present(pics: Any) -> tuple[list[Attribute], list[str]]:
    """The XML's attributes the DUT has, and why each other one is not checked."""
    have = [a for a in CLUSTER.attributes if pics.check(attribute_code(a.id))]
    missing = [f"{a.name}: {pics.why_not(attribute_code(a.id))}" for a in CLUSTER.attributes if a not in have]
    return have, missing


def has_default(a: Attribute) -> bool:
    """Whether the XML declares a default for ``a``."""
    return a.default is not None


def spec_default(a: Attribute) -> Any:
    """The XML default of ``a`` as a measurement (``null`` spelt out)."""
    if a.default == NULL:
        return NULL
    return a.default


def non_volatile(a: Attribute) -> bool:
    """Whether the XML gives ``a`` the quality ``persistence="nonVolatile"`` (it must survive a power cycle)."""
    return a.quality.persistence == "nonVolatile"


def measured(value: Any) -> Any:
    """An attribute value as a measurement: null spelt out, enums and numbers as int, text as it is."""
    if is_null(value):
        return NULL
    if isinstance(value, bool | str | bytes):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


NON_DEFAULT_WRITES: dict[str, Any] = {
    "UserMaximumChargeCurrent": 20000,
    "RandomizationDelayWindow": 1234,
    "ApproximateEVEfficiency": 4321,
}
"""A value other than the XML default for each writable attribute, mA / s / Wh per 1000 km as the attribute's unit."""


def non_default_write(a: Attribute) -> Any:
    """The value a case writes to the writable attribute ``a`` to set it apart from its default.

    Raises:
        KeyError: the XML has a writable attribute this table does not know (named, so the table is completed).
    """
    try:
        return NON_DEFAULT_WRITES[a.name]
    except KeyError:
        raise KeyError(f"no value other than its default is known for the writable attribute {a.name}") from None
