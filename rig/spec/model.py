"""The data model of a Matter cluster as its specification XML states it (no dependency on ``chip``).

Filled by :mod:`rig.spec.parser`; read by :mod:`rig.spec.conformance` and :mod:`rig.spec.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Null = None
"""A default of ``null`` in the XML."""


@dataclass(frozen=True)
class Expr:
    """A conformance expression: a feature/attribute/command/event/condition name, or an operator on terms.

    Attributes:
        op: ``feature``, ``attribute``, ``command``, ``event``, ``condition``, ``field``, ``and``, ``or``, ``xor``,
            ``not``, ``literal`` (an unknown element, kept for the message).
        name: the element name for a leaf.
        terms: the operands of an operator.
    """

    op: str
    name: str = ""
    terms: tuple[Expr, ...] = ()

    def __str__(self) -> str:
        if self.op in ("and", "or", "xor"):
            sym = {"and": " & ", "or": " | ", "xor": " ^ "}[self.op]
            return "(" + sym.join(str(t) for t in self.terms) + ")"
        if self.op == "not":
            return f"!{self.terms[0]}"
        return self.name


ConformKind = Literal["mandatory", "optional", "provisional", "deprecated", "disallowed", "described"]
CommandDirection = Literal["commandToServer", "responseFromServer"]
"""A command's ``direction``: a client→server request, or a server→client response."""

CONFORMANCE_CODES: dict[str, str] = {
    "mandatory": "M",
    "optional": "O",
    "provisional": "P",
    "deprecated": "D",
    "disallowed": "X",
    "described": "desc",
}
"""Conformance kind -> the one-letter code the specification (and a PICS file's ``<status>``) writes."""


@dataclass(frozen=True)
class Conformance:
    """One conformance rule (``mandatoryConform``, ``optionalConform``, ...), or an ``otherwiseConform`` list.

    Attributes:
        kind: the rule, or ``otherwise`` for an ordered list of rules (the first whose expression holds applies).
        expr: the condition (None = unconditional).
        choice: optional choice group name (``choice="a"``).
        more: the choice group allows more than one member (``more="true"``).
        otherwise: the rules of an ``otherwiseConform``.
    """

    kind: ConformKind | Literal["otherwise"]
    expr: Expr | None = None
    choice: str | None = None
    more: bool = False
    otherwise: tuple[Conformance, ...] = ()

    def __str__(self) -> str:
        if self.kind == "otherwise":
            return ", ".join(str(c) for c in self.otherwise)
        code = CONFORMANCE_CODES[self.kind]
        if self.expr is None:
            text = code
        elif self.kind == "mandatory":
            text = str(self.expr)
        elif self.kind == "optional":
            text = f"[{self.expr}]"
        else:
            text = f"{code}({self.expr})"
        if self.choice:
            text += f".{self.choice}" + ("+" if self.more else "")
        return text

    @property
    def pics(self) -> tuple[str, str]:
        """Get (PICS ``<status>``, condition) of this conformance: ``("M", "")``, ``("M", "V2X")``, ``("O", "PREF")``.

        An ``otherwiseConform`` is read by its first rule that is not provisional (``P, O`` is ``O``: what a device
        may implement today); the condition is that rule's expression as the spec writes it (a feature code for a
        feature), ``""`` when unconditional.
        """
        if self.kind == "otherwise":
            rules = [r for r in self.otherwise if r.kind != "provisional"] or list(self.otherwise)
            return rules[0].pics
        return CONFORMANCE_CODES[self.kind], "" if self.expr is None else str(self.expr)


MANDATORY = Conformance("mandatory")


@dataclass(frozen=True)
class Constraint:
    """A ``constraint`` element.

    Attributes:
        type: ``min``, ``max``, ``between``, ``maxLength``, ``minLength``, ``maxCount``, ``minCount``, ``desc``, ...
        value: the bound for single-valued constraints (int when numeric, else the text).
        to: the upper bound of ``between``.
    """

    type: str
    value: Any = None
    to: Any = None


@dataclass(frozen=True)
class Quality:
    """The ``quality`` element (absent attributes: the spec defaults)."""

    nullable: bool = False
    persistence: str = "volatile"  # volatile | nonVolatile | fixed
    quieter_reporting: bool = False
    change_omitted: bool = False
    scene: bool = False
    reportable: bool = False
    fixed: bool = False


@dataclass(frozen=True)
class Access:
    """The ``access`` element."""

    read: bool = False
    write: bool = False
    read_privilege: str | None = None
    write_privilege: str | None = None
    invoke_privilege: str | None = None
    timed: bool = False
    fabric_scoped: bool = False
    fabric_sensitive: bool = False


@dataclass(frozen=True)
class Field:
    """A struct/command/event field."""

    id: int
    name: str
    type: str
    entry_type: str | None = None
    default: Any = None
    conformance: Conformance = MANDATORY
    quality: Quality = Quality()
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class Item:
    """An enum item or a bitmap bit."""

    value: int
    name: str
    summary: str = ""
    conformance: Conformance = MANDATORY


@dataclass(frozen=True)
class DataType:
    """An enum, bitmap or struct (or a ``number`` placeholder) from ``dataTypes``."""

    kind: Literal["enum", "bitmap", "struct", "number"]
    name: str
    items: tuple[Item, ...] = ()
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Feature:
    """A feature bit."""

    bit: int
    code: str
    name: str
    summary: str = ""
    conformance: Conformance = MANDATORY


@dataclass(frozen=True)
class Attribute:
    """A cluster attribute."""

    id: int
    name: str
    type: str
    entry_type: str | None = None
    default: Any = None
    access: Access = Access()
    quality: Quality = Quality()
    conformance: Conformance = MANDATORY
    constraints: tuple[Constraint, ...] = ()

    @property
    def writable(self) -> bool:
        """The attribute accepts writes."""
        return self.access.write


@dataclass(frozen=True)
class Command:
    """A command (client→server request or server→client response)."""

    id: int
    name: str
    direction: CommandDirection
    response: str | None = None
    access: Access = Access()
    conformance: Conformance = MANDATORY
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Event:
    """A cluster event."""

    id: int
    name: str
    priority: str
    access: Access = Access()
    conformance: Conformance = MANDATORY
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Cluster:
    """One cluster as its specification XML describes it."""

    id: int
    name: str
    revision: int
    pics_code: str | None = None
    features: tuple[Feature, ...] = ()
    data_types: dict[str, DataType] = field(default_factory=dict)
    attributes: tuple[Attribute, ...] = ()
    commands: tuple[Command, ...] = ()
    events: tuple[Event, ...] = ()

    def feature_codes(self, feature_map: int) -> set[str]:
        """The feature codes set in ``feature_map``."""
        return {f.code for f in self.features if feature_map >> f.bit & 1}

    def attribute(self, name_or_id: str | int) -> Attribute:
        """An attribute by name or id (KeyError if unknown)."""
        for a in self.attributes:
            if name_or_id in (a.name, a.id):
                return a
        raise KeyError(name_or_id)

    def command(self, name_or_id: str | int) -> Command:
        """A command by name or id (client→server first for an id shared with a response)."""
        found = [c for c in self.commands if name_or_id in (c.name, c.id)]
        if not found:
            raise KeyError(name_or_id)
        return sorted(found, key=lambda c: c.direction != "commandToServer")[0]

    def event(self, name_or_id: str | int) -> Event:
        """An event by name or id."""
        for e in self.events:
            if name_or_id in (e.name, e.id):
                return e
        raise KeyError(name_or_id)
