"""Spec-named payloads (``rig.spec.probes``) as controller objects, and the status a DUT answers to them.

Shared by TC-EEVSE-BOUNDS-* (``test_spec_bounds.py``) and TC-EEVSE-STATE-* (``test_state_matrix.py``): a payload
is a dict of fields by their XML names (``MinimumChargeCurrent``), nested lists of dicts for structs, ``None`` for
the Matter null; this module turns it into the controller's command or struct object, guided by the spec XML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rig.errors import MatterStatusError
from rig.matter.eevse import EVSE, NullValue
from rig.spec.model import Cluster, Field


def _python_name(xml_name: str) -> str:
    return xml_name[0].lower() + xml_name[1:]


def _value(cluster: Cluster, f: Field, value: Any) -> Any:
    if value is None:
        return NullValue
    if f.type == "list":
        dt = cluster.data_types.get(f.entry_type or "")
        if dt is not None and dt.kind == "struct":
            struct_cls = getattr(EVSE.Structs, dt.name)
            return [_struct(cluster, struct_cls, dt.fields, entry) for entry in value]
        return list(value)
    return value


def _struct(cluster: Cluster, cls: Any, fields: tuple[Field, ...], payload: Mapping[str, Any]) -> Any:
    by_name = {f.name: f for f in fields}
    kwargs = {_python_name(name): _value(cluster, by_name[name], v) for name, v in payload.items()}
    return cls(**kwargs)


def command_object(cluster: Cluster, name: str, payload: Mapping[str, Any]) -> Any:
    """The controller's command object for command ``name`` with ``payload`` (fields by XML name)."""
    command = cluster.command(name)
    return _struct(cluster, getattr(EVSE.Commands, name), command.fields, payload)


async def status_of(coro: Any) -> str:
    """Await an invoke or write; return ``SUCCESS`` or the IM status name it failed with."""
    try:
        await coro
    except MatterStatusError as exc:
        return exc.status
    return "SUCCESS"
