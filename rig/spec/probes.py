"""Every bound at every edge: the constraints data file (``rig/spec/constraints.yaml``) and the probes made from it.

The spec XML states some bounds (``min``, ``max``, ``maxCount``) and leaves others to its prose (``desc``) or to
the reference implementation; the data file holds those, each with its source. :func:`load_constraints` reads and
validates it against a cluster (a bad entry is refused naming it); :func:`probes_for` turns it into one
:class:`Probe` per edge: each field and writable attribute at min-1, min, max, max+1 (where the wire encoding allows),
the most negative value where the type is signed, null where nullable, each list at maxCount and one beyond, and each
rule. Pure functions of the cluster, the data and the DUT's features: ``tests/spec`` proves them without a DUT.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml

from rig.spec.checks import TYPES
from rig.spec.conformance import Context
from rig.spec.model import Cluster, Field
from rig.spec.parser import SpecError

CONSTRAINTS_FILE = Path(__file__).with_name("constraints.yaml")
"""The Energy EVSE constraints the XML leaves to prose, with their sources."""

STATUSES = frozenset(
    {
        "SUCCESS",
        "FAILURE",
        "CONSTRAINT_ERROR",
        "RESOURCE_EXHAUSTED",
        "INVALID_COMMAND",
        "UNSUPPORTED_COMMAND",
        "UNSUPPORTED_WRITE",
        "INVALID_IN_STATE",
        "DYNAMIC_CONSTRAINT_ERROR",
        "BUSY",
    }
)
"""Interaction Model status names an entry may expect."""

ABSENT = "absent"
"""Data-file value: an optional field left out of the invocation."""

WIRE_RANGE: dict[str, tuple[int, int]] = {"percent": (0, 0xFF), "percent100ths": (0, 0xFFFF)}
"""Types whose wire encoding is wider than their value range (percent is a uint8 on the wire)."""

DEFAULT_BEYOND = "CONSTRAINT_ERROR"


class ConstraintsError(SpecError):
    """The constraints data file is missing, malformed, or names what the cluster does not have."""


@dataclass(frozen=True)
class Bound:
    """A numeric bound of one path (``bounds`` entry); None = not stated (the type's or XML's applies)."""

    path: str
    source: str
    low: int | None = None
    high: int | None = None
    below: str | None = DEFAULT_BEYOND
    above: str | None = DEFAULT_BEYOND
    when: str | None = None
    with_: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Count:
    """A list length limit (``counts`` entry)."""

    path: str
    source: str
    high: int
    above: str
    vary: str
    values: tuple[Any, ...]
    when: str | None = None


@dataclass(frozen=True)
class Rule:
    """One invocation or write that breaks (or keeps) a rule (``rules`` entry)."""

    name: str
    target: str
    kind: Literal["command", "attribute"]
    set: Any
    expect: tuple[str, ...]
    source: str
    when: str | None = None


@dataclass(frozen=True)
class Constraints:
    """The validated data file."""

    base: Mapping[str, Mapping[str, Any]]
    restore: Mapping[str, str]
    bounds: tuple[Bound, ...]
    counts: tuple[Count, ...]
    rules: tuple[Rule, ...]
    origin: str = ""


@dataclass(frozen=True)
class Probe:
    """One invocation (or write) at an edge and the status(es) a conformant DUT answers.

    Attributes:
        target: the command or attribute name.
        kind: ``command`` or ``attribute``.
        what: the field or attribute and the value sent, for messages (``MinimumChargeCurrent = -1 (min - 1)``).
        payload: the command's fields by XML name (nested dicts/lists; absent fields left out), or the value written.
        expect: the statuses accepted (the first is the one the source states first).
        source: the data file's source for the expectation (or the XML's constraint).
    """

    target: str
    kind: Literal["command", "attribute"]
    what: str
    payload: Any
    expect: tuple[str, ...]
    source: str

    @property
    def accepts(self) -> bool:
        """SUCCESS is expected: the DUT's state changes and must be restored."""
        return "SUCCESS" in self.expect


# -- loading ---------------------------------------------------------------------------------------------------------
def load_constraints(cluster: Cluster, path: Path = CONSTRAINTS_FILE) -> Constraints:
    """Read and validate the constraints data file against ``cluster``.

    Raises:
        ConstraintsError: unreadable file, unknown key, bad value, or a path/status the cluster does not have; the
            message names the entry (``bounds[3] (EnableCharging.Foo)``).
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConstraintsError(f"{path}: cannot read the constraints data file: {exc}") from None
    return parse_constraints(cluster, raw, origin=str(path))


def parse_constraints(cluster: Cluster, raw: Any, *, origin: str = "constraints") -> Constraints:
    """Validate an already-parsed data file (see :func:`load_constraints`)."""
    checker = _Checker(cluster, origin)
    top = checker.mapping(raw, "the file", {"version", "base", "restore", "bounds", "counts", "rules"})
    if top.get("version") != 1:
        checker.fail("the file", f"version must be 1, got {top.get('version')!r}")
    base = checker.mapping(top.get("base", {}), "base", None)
    for name, payload in base.items():
        command = checker.command(name, f"base.{name}")
        checker.payload(command.name, checker.mapping(payload, f"base.{name}", None), f"base.{name}")
    restore = checker.mapping(top.get("restore", {}), "restore", None)
    for name, undo in restore.items():
        checker.command(name, f"restore.{name}")
        checker.command(undo, f"restore.{name}")
    bounds = tuple(checker.bound(i, e) for i, e in enumerate(checker.sequence(top.get("bounds", []), "bounds")))
    counts = tuple(checker.count(i, e) for i, e in enumerate(checker.sequence(top.get("counts", []), "counts")))
    rules = tuple(checker.rule(i, e) for i, e in enumerate(checker.sequence(top.get("rules", []), "rules")))
    for path in [b.path for b in bounds] + [c.path for c in counts]:
        head = path.split(".")[0]
        if "." in path and head not in base:
            checker.fail(path, f"the command {head} has bounds but no base invocation in `base`")
    for rule in rules:
        if rule.kind == "command" and rule.target not in base:
            checker.fail(rule.name, f"the command {rule.target} has a rule but no base invocation in `base`")
    return Constraints(base, restore, bounds, counts, rules, origin)


class _Checker:
    def __init__(self, cluster: Cluster, origin: str) -> None:
        self.cluster = cluster
        self.origin = origin

    def fail(self, entry: str, problem: str) -> NoReturn:
        raise ConstraintsError(f"{self.origin}: {entry}: {problem}")

    def mapping(self, value: Any, entry: str, keys: set[str] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(entry, f"expected a mapping, got {type(value).__name__}")
        if keys is not None:
            unknown = sorted(set(value) - keys)
            if unknown:
                self.fail(entry, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(keys))}")
        return dict(value)

    def sequence(self, value: Any, entry: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(entry, f"expected a list, got {type(value).__name__}")
        return list(value)

    def command(self, name: Any, entry: str) -> Any:
        try:
            command = self.cluster.command(name)
        except KeyError:
            known = ", ".join(c.name for c in self.cluster.commands if c.direction == "commandToServer")
            self.fail(entry, f"the cluster has no command {name!r}; commands: {known}")
        if command.direction != "commandToServer":
            self.fail(entry, f"{name} is a response, not a command a client sends")
        return command

    def status(self, value: Any, entry: str, *, allow_none: bool) -> str | None:
        if value is None and allow_none:
            return None
        if value not in STATUSES:
            self.fail(entry, f"unknown status {value!r}; statuses: {', '.join(sorted(STATUSES))}")
        return str(value)

    def integer(self, value: Any, entry: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(entry, f"expected an integer, got {value!r}")
        return int(value)

    def when(self, value: Any, entry: str) -> str | None:
        if value is None:
            return None
        codes = {f.code for f in self.cluster.features}
        if not isinstance(value, str) or value.removeprefix("!") not in codes:
            self.fail(entry, f"`when` must be a feature code or !code ({', '.join(sorted(codes))}), got {value!r}")
        return str(value)

    def source(self, value: Any, entry: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(entry, "every entry needs its `source` (the spec section or the reference implementation)")
        return str(value)

    def field_path(self, path: Any, entry: str, *, leaf: Literal["int", "list", "any"]) -> Field | None:
        """The Field a command path names (None for an attribute path); checks the kind of the leaf."""
        if not isinstance(path, str) or not path:
            self.fail(entry, f"`path` must be a non-empty string, got {path!r}")
        if "." not in path:
            try:
                attribute = self.cluster.attribute(path)
            except KeyError:
                self.fail(entry, f"the cluster has no attribute {path!r}")
            if not attribute.writable:
                self.fail(entry, f"{path} is read-only: only writable attributes are probed")
            if leaf == "list":
                self.fail(entry, "a count needs a command's list field")
            return None
        head, rest = path.split(".", 1)
        command = self.command(head, entry)
        found = resolve_field(self.cluster, command.fields, rest)
        if isinstance(found, str):
            self.fail(entry, found)
        assert isinstance(found, Field)
        if leaf == "list" and found.type != "list":
            self.fail(entry, f"{path} is a {found.type}, not a list")
        if leaf == "int" and found.type == "list":
            self.fail(entry, f"{path} is a list: give its length in `counts`")
        return found

    def payload(self, command: str, payload: Mapping[str, Any], entry: str) -> None:
        fields = {f.name for f in self.cluster.command(command).fields}
        for key in payload:
            if key.split("[]")[0] not in fields:
                self.fail(entry, f"the command {command} has no field {key}; fields: {', '.join(sorted(fields))}")

    def bound(self, i: int, raw: Any) -> Bound:
        entry = f"bounds[{i}]"
        e = self.mapping(raw, entry, {"path", "min", "max", "below", "above", "when", "with", "source"})
        entry = f"bounds[{i}] ({e.get('path')})"
        self.field_path(e.get("path"), entry, leaf="int")
        low, high = self.integer(e.get("min"), entry), self.integer(e.get("max"), entry)
        if low is None and high is None:
            self.fail(entry, "a bound needs `min`, `max` or both")
        if low is not None and high is not None and low > high:
            self.fail(entry, f"min {low} is above max {high}")
        path = str(e["path"])
        with_ = self.mapping(e.get("with", {}), entry + " with", None)
        if with_ and "." not in path:
            self.fail(entry, "`with` applies to command fields only")
        if with_:
            self.payload(path.split(".")[0], with_, entry + " with")
        return Bound(
            path,
            self.source(e.get("source"), entry),
            low,
            high,
            self.status(e.get("below", DEFAULT_BEYOND), entry + " below", allow_none=True),
            self.status(e.get("above", DEFAULT_BEYOND), entry + " above", allow_none=True),
            self.when(e.get("when"), entry),
            with_,
        )

    def count(self, i: int, raw: Any) -> Count:
        entry = f"counts[{i}]"
        e = self.mapping(raw, entry, {"path", "max", "above", "vary", "values", "when", "source"})
        entry = f"counts[{i}] ({e.get('path')})"
        found = self.field_path(e.get("path"), entry, leaf="list")
        high = self.integer(e.get("max"), entry)
        if high is None or high < 1:
            self.fail(entry, f"`max` must be a positive integer, got {e.get('max')!r}")
        assert found is not None and high is not None
        entry_fields = {f.name for f in self.struct_fields(found)}
        if e.get("vary") not in entry_fields:
            self.fail(entry, f"`vary` must name a field of the list's entries ({', '.join(sorted(entry_fields))})")
        values = self.sequence(e.get("values"), entry + " values")
        if len(values) < high + 1:
            self.fail(entry, f"`values` has {len(values)} entries; max + 1 = {high + 1} are needed")
        return Count(
            str(e["path"]),
            self.source(e.get("source"), entry),
            high,
            str(self.status(e.get("above", DEFAULT_BEYOND), entry + " above", allow_none=False)),
            str(e["vary"]),
            tuple(values),
            self.when(e.get("when"), entry),
        )

    def struct_fields(self, list_field: Field) -> tuple[Field, ...]:
        dt = self.cluster.data_types.get(list_field.entry_type or "")
        return dt.fields if dt is not None and dt.kind == "struct" else ()

    def rule(self, i: int, raw: Any) -> Rule:
        entry = f"rules[{i}]"
        e = self.mapping(raw, entry, {"name", "command", "attribute", "set", "expect", "when", "source"})
        entry = f"rules[{i}] ({e.get('name')})"
        if not isinstance(e.get("name"), str) or not e["name"]:
            self.fail(entry, "every rule needs a `name`")
        if ("command" in e) == ("attribute" in e):
            self.fail(entry, "a rule names either a `command` or an `attribute`")
        if "set" not in e:
            self.fail(entry, "a rule needs `set` (the fields changed, or the value written)")
        expect = e.get("expect")
        statuses = expect if isinstance(expect, list) else [expect]
        if not statuses:
            self.fail(entry, "`expect` names no status")
        checked = tuple(str(self.status(s, entry + " expect", allow_none=False)) for s in statuses)
        kind: Literal["command", "attribute"]
        if "command" in e:
            target, kind = self.command(e["command"], entry).name, "command"
            sets = self.mapping(e["set"], entry + " set", None)
            for key in sets:
                self.field_path(f"{target}.{key}", f"{entry} set", leaf="any")
        else:
            target, kind = str(e["attribute"]), "attribute"
            self.field_path(target, entry, leaf="int")
        return Rule(
            str(e["name"]),
            target,
            kind,
            e["set"],
            checked,
            self.source(e.get("source"), entry),
            self.when(e.get("when"), entry),
        )


def resolve_field(cluster: Cluster, fields: tuple[Field, ...], path: str) -> Field | str:
    """The field ``path`` (``List[].Field``) names among ``fields``, or the problem as text."""
    head, _, rest = path.partition(".")
    name = head.removesuffix("[]")
    found = next((f for f in fields if f.name == name), None)
    if found is None:
        return f"no field {name!r} (fields: {', '.join(f.name for f in fields)})"
    if not rest:
        if head.endswith("[]"):
            return f"{head} names a list entry: name one of its fields after it"
        return found
    if not head.endswith("[]") or found.type != "list":
        return f"{name} is not a list of structs: write {name}[].Field only for a list"
    dt = cluster.data_types.get(found.entry_type or "")
    if dt is None or dt.kind != "struct":
        return f"the entries of {name} are {found.entry_type}, not a struct"
    return resolve_field(cluster, dt.fields, rest)


# -- generating ------------------------------------------------------------------------------------------------------
def applies(when: str | None, ctx: Context) -> bool:
    """An entry's ``when`` (``CODE`` / ``!CODE``) holds for the DUT's features."""
    if when is None:
        return True
    return (when.removeprefix("!") in ctx.features) != when.startswith("!")


def set_path(payload: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` (``Field`` or ``List[].Field``: the list's first entry) in ``payload``; ``absent`` removes it."""
    head, _, rest = path.partition(".")
    if rest:
        set_path(payload[head.removesuffix("[]")][0], rest, value)
    elif value == ABSENT:
        payload.pop(head, None)
    else:
        payload[head] = copy.deepcopy(value)


def get_path(payload: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (see :func:`set_path`)."""
    head, _, rest = path.partition(".")
    if rest:
        return get_path(payload[head.removesuffix("[]")][0], rest)
    return payload[head]


def _wire_range(cluster: Cluster, type_name: str) -> tuple[int | None, int | None]:
    if type_name in WIRE_RANGE:
        return WIRE_RANGE[type_name]
    dt = cluster.data_types.get(type_name)
    if dt is not None and dt.kind in ("bitmap", "enum"):
        return 0, 0xFF
    _, low, high = TYPES.get(type_name, ("unknown", None, None))
    return low, high


def _leaves(cluster: Cluster, fields: tuple[Field, ...], prefix: str = "") -> Iterator[tuple[str, Field]]:
    for f in fields:
        path = f"{prefix}{f.name}"
        if f.type == "list":
            yield path, f
            dt = cluster.data_types.get(f.entry_type or "")
            if dt is not None and dt.kind == "struct":
                yield from _leaves(cluster, dt.fields, f"{path}[].")
        else:
            yield path, f


def _xml_bound(f: Field, path: str, where: str) -> Bound | None:
    low = high = None
    for c in f.constraints:
        if c.type == "min" and isinstance(c.value, int):
            low = c.value
        elif c.type == "max" and isinstance(c.value, int):
            high = c.value
        elif c.type == "between":
            low, high = (c.value if isinstance(c.value, int) else None), (c.to if isinstance(c.to, int) else None)
    if low is None and high is None:
        return None
    return Bound(path, f"spec XML: {where} constraint", low, high)


def _edge_values(bound: Bound, wire: tuple[int | None, int | None]) -> list[tuple[int, str, str | None]]:
    """(value, label, expected status) for each edge of ``bound``; SUCCESS is None here (filled by the caller)."""
    wire_low, wire_high = wire
    out: list[tuple[int, str, str | None]] = []
    if bound.low is not None:
        beyond = bound.low - 1
        if bound.below is not None and (wire_low is None or beyond >= wire_low):
            out.append((beyond, "min - 1", bound.below))
            if wire_low is not None and wire_low < 0 and wire_low < beyond:
                out.append((wire_low, "the most negative value of the type", bound.below))
        out.append((bound.low, "min", None))
    if bound.high is not None:
        out.append((bound.high, "max", None))
        beyond = bound.high + 1
        if bound.above is not None and (wire_high is None or beyond <= wire_high):
            out.append((beyond, "max + 1", bound.above))
    seen: set[int] = set()
    unique = []
    for value, label, status in out:
        if value not in seen:
            seen.add(value)
            unique.append((value, label, status))
    return unique


def probes_for(cluster: Cluster, data: Constraints, ctx: Context) -> dict[str, list[Probe]]:
    """The probes of every command field and writable attribute, by target (command or attribute name).

    Bounds come from the data file where it has an entry for the path (for the DUT's features), else from the XML;
    nullable leaves also get null; every list the XML bounds with ``maxCount`` needs a ``counts`` entry.

    Raises:
        ConstraintsError: a list the XML bounds has no ``counts`` entry (its entries cannot be built).
    """
    out: dict[str, list[Probe]] = {}
    for command in cluster.commands:
        if command.direction != "commandToServer" or command.name not in data.base:
            continue
        base = dict(copy.deepcopy(dict(data.base[command.name])))
        probes: list[Probe] = []
        for path, f in _leaves(cluster, command.fields):
            full = f"{command.name}.{path}"
            if f.type == "list":
                probes += _count_probes(cluster, data, ctx, command.name, base, path, f)
                continue
            entries = [b for b in data.bounds if b.path == full and applies(b.when, ctx)]
            xml = _xml_bound(f, path, f"{full} {', '.join(c.type for c in f.constraints)}")
            bounds = entries or ([xml] if xml else [])
            wire = _wire_range(cluster, f.type)
            for bound in bounds:
                for value, label, status in _edge_values(bound, wire):
                    payload = copy.deepcopy(base)
                    for key, other in bound.with_.items():
                        set_path(payload, key, other)
                    set_path(payload, path, value)
                    expect = (status,) if status else ("SUCCESS",)
                    probes.append(
                        Probe(command.name, "command", f"{path} = {value} ({label})", payload, expect, bound.source)
                    )
            if f.quality.nullable:
                payload = copy.deepcopy(base)
                set_path(payload, path, None)
                source = f"spec XML: {full} is nullable"
                probes.append(Probe(command.name, "command", f"{path} = null", payload, ("SUCCESS",), source))
        for rule in data.rules:
            if rule.kind == "command" and rule.target == command.name and applies(rule.when, ctx):
                payload = copy.deepcopy(base)
                for key, value in rule.set.items():
                    set_path(payload, key, value)
                probes.append(Probe(command.name, "command", rule.name, payload, rule.expect, rule.source))
        if probes:
            out[command.name] = probes
    for attribute in cluster.attributes:
        if not attribute.writable:
            continue
        probes = []
        entries = [b for b in data.bounds if b.path == attribute.name and applies(b.when, ctx)]
        fake = Field(attribute.id, attribute.name, attribute.type, constraints=attribute.constraints)
        xml = _xml_bound(fake, attribute.name, f"{attribute.name} {', '.join(c.type for c in attribute.constraints)}")
        for bound in entries or ([xml] if xml else []):
            for value, label, status in _edge_values(bound, _wire_range(cluster, attribute.type)):
                expect = (status,) if status else ("SUCCESS",)
                probes.append(
                    Probe(
                        attribute.name,
                        "attribute",
                        f"{attribute.name} = {value} ({label})",
                        value,
                        expect,
                        bound.source,
                    )
                )
        if attribute.quality.nullable:
            source = f"spec XML: {attribute.name} is nullable"
            probes.append(Probe(attribute.name, "attribute", f"{attribute.name} = null", None, ("SUCCESS",), source))
        for rule in data.rules:
            if rule.kind == "attribute" and rule.target == attribute.name and applies(rule.when, ctx):
                probes.append(Probe(attribute.name, "attribute", rule.name, rule.set, rule.expect, rule.source))
        if probes:
            out[attribute.name] = probes
    return out


def _count_probes(
    cluster: Cluster, data: Constraints, ctx: Context, command: str, base: dict[str, Any], path: str, f: Field
) -> list[Probe]:
    full = f"{command}.{path}"
    stated = next((c.value for c in f.constraints if c.type == "maxCount" and isinstance(c.value, int)), None)
    counts = [c for c in data.counts if c.path == full and applies(c.when, ctx)]
    if not counts:
        if stated is not None:
            raise ConstraintsError(
                f"{data.origin}: {full}: the XML bounds this list (maxCount {stated}) but `counts` has no entry for "
                "it (its `vary` and `values` say how to build distinct valid entries)"
            )
        return []
    probes = []
    for count in counts:
        template = get_path(base, path)[0]
        for n, expect in ((count.high, "SUCCESS"), (count.high + 1, count.above)):
            entries = []
            for i in range(n):
                entry = copy.deepcopy(template)
                entry[count.vary] = count.values[i]
                entries.append(entry)
            payload = copy.deepcopy(base)
            set_path(payload, path, entries)
            label = "maxCount" if n == count.high else "maxCount + 1"
            probes.append(
                Probe(command, "command", f"{path} with {n} entries ({label})", payload, (expect,), count.source)
            )
    return probes


def describe_expect(expect: tuple[str, ...]) -> str:
    """``CONSTRAINT_ERROR`` or ``INVALID_COMMAND or FAILURE``."""
    return " or ".join(expect)
