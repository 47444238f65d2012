"""Every command in every state: the state x command matrix data file (``rig/spec/state_matrix.yaml``).

Each reachable state says how a case reaches and leaves it and what the DUT reads there; each cell (state, command)
the status a conformant DUT answers, the State / SupplyState / FaultState after it, how to get back to the state, and
the source of the expectation. :func:`load_matrix` validates the file against a cluster (commands, fields, enum item
names, features) and the stimulus actions the rig has; a bad entry is refused naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from rig.spec.model import Cluster
from rig.spec.probes import STATUSES, ConstraintsError

MATRIX_FILE = Path(__file__).with_name("state_matrix.yaml")
"""The Energy EVSE state x command matrix."""

ATTRIBUTE_ENUMS = {"State": "StateEnum", "SupplyState": "SupplyStateEnum", "FaultState": "FaultStateEnum"}
"""The attributes a state and a cell's outcome name, and their enum types in the spec XML."""


@dataclass(frozen=True)
class Action:
    """A step of entering, leaving or undoing: a command (with its matrix fields) or an EV stimulus."""

    name: str
    kind: str  # "command" or "stimulus"


@dataclass(frozen=True)
class StateDef:
    """A reachable state: how to enter and leave it, what the DUT reads there (enum item names)."""

    name: str
    title: str
    enter: tuple[Action, ...]
    leave: tuple[Action, ...]
    is_: Mapping[str, str]
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cell:
    """One command in one state: the status expected, the attributes after it, the way back, the source."""

    state: str
    command: str
    expect: str
    then: Mapping[str, str]
    undo: tuple[Action, ...]
    source: str


@dataclass(frozen=True)
class Matrix:
    """The validated matrix."""

    commands: Mapping[str, Mapping[str, Any]]
    states: Mapping[str, StateDef]
    cells: Mapping[str, tuple[Cell, ...]]

    def enum_value(self, cluster: Cluster, attribute: str, item: str) -> int:
        """The numeric value of enum ``item`` of ``attribute`` (``SupplyState``, ``Disabled`` -> 0)."""
        dt = cluster.data_types[ATTRIBUTE_ENUMS[attribute]]
        return next(i.value for i in dt.items if i.name == item)


def load_matrix(cluster: Cluster, actions: Iterable[str], path: Path = MATRIX_FILE) -> Matrix:
    """Read and validate the matrix file; ``actions`` are the stimulus action names the rig knows.

    Raises:
        ConstraintsError: unreadable file or a bad entry (the message names it, e.g. ``cells.Fault.Disable``).
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConstraintsError(f"{path}: cannot read the state matrix: {exc}") from None
    return parse_matrix(cluster, raw, actions, origin=str(path))


def parse_matrix(cluster: Cluster, raw: Any, actions: Iterable[str], *, origin: str = "state matrix") -> Matrix:
    """Validate an already-parsed matrix file (see :func:`load_matrix`)."""
    known_actions = set(actions)
    requests = {c.name: c for c in cluster.commands if c.direction == "commandToServer"}
    features = {f.code for f in cluster.features}

    def fail(entry: str, problem: str) -> NoReturn:
        raise ConstraintsError(f"{origin}: {entry}: {problem}")

    def mapping(value: Any, entry: str, keys: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            fail(entry, f"expected a mapping, got {type(value).__name__}")
        if keys is not None and set(value) - keys:
            fail(entry, f"unknown key(s) {', '.join(sorted(set(value) - keys))}; known: {', '.join(sorted(keys))}")
        return dict(value)

    def command(name: Any, entry: str) -> str:
        if name not in requests:
            fail(entry, f"the cluster has no command {name!r}; commands: {', '.join(requests)}")
        return str(name)

    def action_list(value: Any, entry: str) -> tuple[Action, ...]:
        if not isinstance(value, list):
            fail(entry, f"expected a list of actions, got {value!r}")
        out = []
        for a in value:
            if a in requests:
                if a not in commands:
                    fail(entry, f"the command {a} is used but has no fields in `commands`")
                out.append(Action(str(a), "command"))
            elif a in known_actions:
                out.append(Action(str(a), "stimulus"))
            else:
                fail(entry, f"{a!r} is neither a command nor a stimulus ({', '.join(sorted(known_actions))})")
        return tuple(out)

    def attributes(value: Any, entry: str) -> dict[str, str]:
        out = {}
        for attr, item in mapping(value, entry).items():
            if attr not in ATTRIBUTE_ENUMS:
                fail(entry, f"{attr!r} is not one of {', '.join(ATTRIBUTE_ENUMS)}")
            names = [i.name for i in cluster.data_types[ATTRIBUTE_ENUMS[attr]].items]
            if item not in names:
                fail(entry, f"{attr} has no value {item!r}; values: {', '.join(names)}")
            out[attr] = str(item)
        return out

    top = mapping(raw, "the file", {"version", "commands", "states", "cells"})
    if top.get("version") != 1:
        fail("the file", f"version must be 1, got {top.get('version')!r}")
    commands: dict[str, dict[str, Any]] = {}
    for name, fields in mapping(top.get("commands"), "commands").items():
        command(name, f"commands.{name}")
        declared = {f.name for f in requests[name].fields}
        for key in mapping(fields, f"commands.{name}"):
            if key not in declared:
                fail(f"commands.{name}", f"the command {name} has no field {key}")
        commands[name] = dict(fields)
    states: dict[str, StateDef] = {}
    for name, e in mapping(top.get("states"), "states").items():
        entry = f"states.{name}"
        e = mapping(e, entry, {"title", "enter", "leave", "is", "requires"})
        is_ = attributes(e.get("is"), entry + ".is")
        if set(is_) != set(ATTRIBUTE_ENUMS):
            fail(entry + ".is", f"a state names all of {', '.join(ATTRIBUTE_ENUMS)}")
        requires = e.get("requires", [])
        for r in requires:
            if r not in features and r not in requests:
                fail(entry + ".requires", f"{r!r} is neither a feature code nor a command")
        states[name] = StateDef(
            str(name),
            str(e.get("title") or name),
            action_list(e.get("enter"), entry + ".enter"),
            action_list(e.get("leave"), entry + ".leave"),
            is_,
            tuple(requires),
        )
    cells: dict[str, tuple[Cell, ...]] = {}
    for state, row in mapping(top.get("cells"), "cells").items():
        if state not in states:
            fail(f"cells.{state}", f"no such state; states: {', '.join(states)}")
        out = []
        for name, e in mapping(row, f"cells.{state}").items():
            entry = f"cells.{state}.{name}"
            command(name, entry)
            if name not in commands:
                fail(entry, f"the command {name} has no fields in `commands`")
            e = mapping(e, entry, {"expect", "then", "undo", "source"})
            if e.get("expect") not in STATUSES:
                fail(entry, f"unknown status {e.get('expect')!r}; statuses: {', '.join(sorted(STATUSES))}")
            if not isinstance(e.get("source"), str) or not e["source"].strip():
                fail(entry, "every cell needs its `source` (the spec section, test plan step or SDK file)")
            then = {**states[state].is_, **attributes(e.get("then", {}), entry + ".then")}
            out.append(
                Cell(state, name, e["expect"], then, action_list(e.get("undo", []), entry + ".undo"), e["source"])
            )
        cells[state] = tuple(out)
    missing = [s for s in states if s not in cells]
    if missing:
        fail("cells", f"no cells for the state(s) {', '.join(missing)}")
    return Matrix(commands, states, cells)
