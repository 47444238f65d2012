"""Parse a Matter cluster specification XML (the data-model format of ``spec/EnergyEVSE.xml``) into :mod:`model`.

Reads ``cluster`` (id, name, revision, classification picsCode), ``features``, ``dataTypes`` (enum, bitmap, struct,
number), ``attributes``, ``commands`` and ``events`` with their ``access``, ``quality``, conformance and
``constraint`` children. Unknown elements are ignored; a malformed document raises :class:`SpecError`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rig.errors import RigError
from rig.spec.model import (
    MANDATORY,
    Access,
    Attribute,
    Cluster,
    Command,
    CommandDirection,
    Conformance,
    ConformKind,
    Constraint,
    DataType,
    Event,
    Expr,
    Feature,
    Field,
    Item,
    Quality,
)

CONFORM_TAGS: dict[str, ConformKind] = {
    "mandatoryConform": "mandatory",
    "optionalConform": "optional",
    "provisionalConform": "provisional",
    "deprecateConform": "deprecated",
    "disallowConform": "disallowed",
    "describedConform": "described",
}
DIRECTIONS: dict[str, CommandDirection] = {
    "commandToServer": "commandToServer",
    "responseFromServer": "responseFromServer",
}
LEAF_TAGS = {"feature", "attribute", "command", "event", "condition", "field"}
OPERATOR_TAGS = {"andTerm": "and", "orTerm": "or", "xorTerm": "xor", "notTerm": "not"}


class SpecError(RigError):
    """The cluster XML is malformed; the message names the element."""


def parse_cluster(source: str | Path) -> Cluster:
    """Parse a cluster XML file (a path) or document (a string starting with ``<``)."""
    text = str(source)
    try:
        root = ET.fromstring(text) if text.lstrip().startswith("<") else ET.parse(source).getroot()
    except (ET.ParseError, OSError) as exc:
        raise SpecError(f"cannot read the cluster XML {text[:80]!r}: {exc}") from None
    if _local(root.tag) != "cluster":
        raise SpecError(f"root element is <{_local(root.tag)}>, expected <cluster>")
    classification = _child(root, "classification")
    cluster_id = root.get("id") or _attr(_child(_child(root, "clusterIds"), "clusterId"), "id")
    return Cluster(
        id=_int(cluster_id, "cluster id"),
        name=root.get("name", ""),
        revision=_int(root.get("revision", "1"), "cluster revision"),
        pics_code=classification.get("picsCode") if classification is not None else None,
        features=tuple(_feature(e) for e in _children(_child(root, "features"), "feature")),
        data_types=_data_types(_child(root, "dataTypes")),
        attributes=tuple(_attribute(e) for e in _children(_child(root, "attributes"), "attribute")),
        commands=tuple(_command(e) for e in _children(_child(root, "commands"), "command")),
        events=tuple(_event(e) for e in _children(_child(root, "events"), "event")),
    )


# -- elements ----------------------------------------------------------------------------------------------------
def _feature(e: ET.Element) -> Feature:
    return Feature(
        bit=_int(e.get("bit"), "feature bit"),
        code=e.get("code", ""),
        name=e.get("name", ""),
        summary=e.get("summary", ""),
        conformance=conformance_of(e),
    )


def _data_types(e: ET.Element | None) -> dict[str, DataType]:
    out: dict[str, DataType] = {}
    if e is None:
        return out
    for d in e:
        tag = _local(d.tag)
        name = d.get("name", "")
        if tag == "enum":
            items = tuple(
                Item(_int(i.get("value"), f"{name} item"), i.get("name", ""), i.get("summary", ""), conformance_of(i))
                for i in _children(d, "item")
            )
            out[name] = DataType("enum", name, items=items)
        elif tag == "bitmap":
            bits = tuple(
                Item(_int(b.get("bit"), f"{name} bit"), b.get("name", ""), b.get("summary", ""), conformance_of(b))
                for b in _children(d, "bitfield")
            )
            out[name] = DataType("bitmap", name, items=bits)
        elif tag == "struct":
            out[name] = DataType("struct", name, fields=tuple(_field(f) for f in _children(d, "field")))
        elif tag == "number":
            out[name] = DataType("number", name)
    return out


def _field(e: ET.Element) -> Field:
    entry = _child(e, "entry")
    return Field(
        id=_int(e.get("id"), "field id"),
        name=e.get("name", ""),
        type=e.get("type", ""),
        entry_type=entry.get("type") if entry is not None else None,
        default=_default(e.get("default")),
        conformance=conformance_of(e),
        quality=_quality(_child(e, "quality")),
        constraints=_constraints(e),
    )


def _attribute(e: ET.Element) -> Attribute:
    name = e.get("name", "")
    entry = _child(e, "entry")
    return Attribute(
        id=_int(e.get("id"), f"attribute {name} id"),
        name=name,
        type=e.get("type", ""),
        entry_type=entry.get("type") if entry is not None else None,
        default=_default(e.get("default")),
        access=_access(_child(e, "access")),
        quality=_quality(_child(e, "quality")),
        conformance=conformance_of(e),
        constraints=_constraints(e),
    )


def _command(e: ET.Element) -> Command:
    name = e.get("name", "")
    direction = DIRECTIONS.get(e.get("direction", "commandToServer"))
    if direction is None:
        raise SpecError(f"command {name}: unknown direction {e.get('direction')!r}")
    return Command(
        id=_int(e.get("id"), f"command {name} id"),
        name=name,
        direction=direction,
        response=e.get("response"),
        access=_access(_child(e, "access")),
        conformance=conformance_of(e),
        fields=tuple(_field(f) for f in _children(e, "field")),
    )


def _event(e: ET.Element) -> Event:
    name = e.get("name", "")
    return Event(
        id=_int(e.get("id"), f"event {name} id"),
        name=name,
        priority=e.get("priority", "info"),
        access=_access(_child(e, "access")),
        conformance=conformance_of(e),
        fields=tuple(_field(f) for f in _children(e, "field")),
    )


def _access(e: ET.Element | None) -> Access:
    if e is None:
        return Access()
    return Access(
        read=_bool(e.get("read")),
        write=_bool(e.get("write")),
        read_privilege=e.get("readPrivilege"),
        write_privilege=e.get("writePrivilege"),
        invoke_privilege=e.get("invokePrivilege"),
        timed=_bool(e.get("timed")),
        fabric_scoped=_bool(e.get("fabricScoped")),
        fabric_sensitive=_bool(e.get("fabricSensitive")),
    )


def _quality(e: ET.Element | None) -> Quality:
    if e is None:
        return Quality()
    persistence = e.get("persistence", "volatile")
    return Quality(
        nullable=_bool(e.get("nullable")),
        persistence=persistence,
        quieter_reporting=_bool(e.get("quieterReporting")),
        change_omitted=_bool(e.get("changeOmitted")),
        scene=_bool(e.get("scene")),
        reportable=_bool(e.get("reportable")),
        fixed=persistence == "fixed" or _bool(e.get("fixed")),
    )


def _constraints(e: ET.Element) -> tuple[Constraint, ...]:
    out = []
    for c in _children(e, "constraint"):
        kind = c.get("type", "")
        if kind == "between":
            out.append(Constraint(kind, _number(c.get("from")), _number(c.get("to"))))
        else:
            out.append(Constraint(kind, _number(c.get("value"))))
    return tuple(out)


# -- conformance ---------------------------------------------------------------------------------------------------
def conformance_of(e: ET.Element) -> Conformance:
    """The conformance of an element (its first conformance child); mandatory when it has none."""
    for c in e:
        if _local(c.tag) in CONFORM_TAGS or _local(c.tag) == "otherwiseConform":
            return _conform(c)
    return MANDATORY


def _conform(e: ET.Element) -> Conformance:
    tag = _local(e.tag)
    if tag == "otherwiseConform":
        rules = tuple(_conform(c) for c in e if _local(c.tag) in CONFORM_TAGS)
        if not rules:
            raise SpecError("<otherwiseConform> holds no conformance rule")
        return Conformance("otherwise", otherwise=rules)
    terms = [_expr(c) for c in e if _local(c.tag) in LEAF_TAGS | set(OPERATOR_TAGS)]
    if len(terms) > 1:  # several terms directly under a rule: the spec reads them as an AND
        expr: Expr | None = Expr("and", terms=tuple(terms))
    else:
        expr = terms[0] if terms else None
    return Conformance(CONFORM_TAGS[tag], expr, e.get("choice"), _bool(e.get("more")))


def _expr(e: ET.Element) -> Expr:
    tag = _local(e.tag)
    if tag in LEAF_TAGS:
        name = e.get("name")
        if not name:
            raise SpecError(f"<{tag}> in a conformance has no name")
        return Expr(tag, name)
    terms = tuple(_expr(c) for c in e if _local(c.tag) in LEAF_TAGS | set(OPERATOR_TAGS))
    op = OPERATOR_TAGS[tag]
    if op == "not" and len(terms) != 1:
        raise SpecError(f"<notTerm> needs exactly one term, has {len(terms)}")
    if op != "not" and len(terms) < 2:
        raise SpecError(f"<{tag}> needs two or more terms, has {len(terms)}")
    return Expr(op, terms=terms)


# -- small helpers ---------------------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(e: ET.Element | None, tag: str) -> ET.Element | None:
    if e is None:
        return None
    return next((c for c in e if _local(c.tag) == tag), None)


def _children(e: ET.Element | None, tag: str) -> list[ET.Element]:
    return [] if e is None else [c for c in e if _local(c.tag) == tag]


def _attr(e: ET.Element | None, name: str) -> str | None:
    return None if e is None else e.get(name)


def _int(text: str | None, what: str) -> int:
    if text is None:
        raise SpecError(f"{what} is missing")
    try:
        return int(text, 0)
    except ValueError:
        raise SpecError(f"{what} {text!r} is not a number") from None


def _number(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _default(text: str | None) -> Any:
    if text is None or text == "":
        return None
    if text == "null":
        return "null"
    return _number(text)


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")
