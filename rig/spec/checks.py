"""Checks generated from a cluster's specification XML: what a DUT with a given FeatureMap must, may and must not
expose, what each attribute's value may be, how its access must answer, and the test steps that say so.

Pure functions of a :class:`Cluster` (and a FeatureMap / element lists): the suite applies them to a DUT,
``tests/spec`` to fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rig.spec.conformance import Context, Verdict, evaluate
from rig.spec.model import Attribute, Cluster, Command, Event, Field

GLOBAL_ATTRIBUTES = {
    0xFFFD: "ClusterRevision",
    0xFFFC: "FeatureMap",
    0xFFFB: "AttributeList",
    0xFFFA: "EventList",
    0xFFF9: "AcceptedCommandList",
    0xFFF8: "GeneratedCommandList",
}
MANDATORY_GLOBALS = (0xFFFD, 0xFFFC, 0xFFFB, 0xFFF9, 0xFFF8)  # EventList is provisional in Matter 1.x
MANUFACTURER_PREFIX_MIN = 0x0001_0000  # ids with a manufacturer prefix are outside the standard space

# type name -> (python kind, minimum, maximum) for the Matter base and derived types
_U = {
    8: 0xFF,
    16: 0xFFFF,
    24: 0xFF_FFFF,
    32: 0xFFFF_FFFF,
    40: (1 << 40) - 1,
    48: (1 << 48) - 1,
    56: (1 << 56) - 1,
    64: (1 << 64) - 1,
}
TYPES: dict[str, tuple[str, int | None, int | None]] = {
    **{f"uint{n}": ("int", 0, m) for n, m in _U.items()},
    **{f"int{n}": ("int", -(1 << (n - 1)), (1 << (n - 1)) - 1) for n in _U},
    **{f"enum{n}": ("int", 0, _U[n]) for n in (8, 16)},
    **{f"map{n}": ("int", 0, _U[n]) for n in (8, 16, 32, 64)},
    **{f"bitmap{n}": ("int", 0, _U[n]) for n in (8, 16, 32, 64)},
    "bool": ("bool", None, None),
    "percent": ("int", 0, 100),
    "percent100ths": ("int", 0, 10000),
    "epoch-s": ("int", 0, _U[32]),
    "epoch-us": ("int", 0, _U[64]),
    "elapsed-s": ("int", 0, _U[32]),
    "utc": ("int", 0, _U[32]),
    "posix-ms": ("int", 0, _U[64]),
    "systime-ms": ("int", 0, _U[64]),
    "systime-us": ("int", 0, _U[64]),
    "amperage-mA": ("int", -(1 << 63), (1 << 63) - 1),
    "energy-mWh": ("int", -(1 << 63), (1 << 63) - 1),
    "power-mW": ("int", -(1 << 63), (1 << 63) - 1),
    "voltage-mV": ("int", -(1 << 63), (1 << 63) - 1),
    "money": ("int", -(1 << 63), (1 << 63) - 1),
    "temperature": ("int", -27315, 32767),
    "vendor-id": ("int", 0, _U[16]),
    "fabric-idx": ("int", 0, _U[8]),
    "node-id": ("int", 0, _U[64]),
    "endpoint-no": ("int", 0, _U[16]),
    "cluster-id": ("int", 0, _U[32]),
    "attrib-id": ("int", 0, _U[32]),
    "event-id": ("int", 0, _U[32]),
    "command-id": ("int", 0, _U[32]),
    "devtype-id": ("int", 0, _U[32]),
    "event-no": ("int", 0, _U[64]),
    "action-id": ("int", 0, _U[8]),
    "trans-id": ("int", 0, _U[32]),
    "string": ("str", None, None),
    "char_string": ("str", None, None),
    "long_char_string": ("str", None, None),
    "octstr": ("bytes", None, None),
    "octet_string": ("bytes", None, None),
    "long_octet_string": ("bytes", None, None),
    "list": ("list", None, None),
}
SIGNED_OR_UNSIGNED_NULL = "the top (unsigned) or bottom (signed) value encodes null"


# -- element presence ------------------------------------------------------------------------------------------------
ElementKind = Literal["attribute", "accepted", "generated", "event"]
LIST_OF_KIND: dict[ElementKind, str] = {
    "attribute": "AttributeList",
    "accepted": "AcceptedCommandList",
    "generated": "GeneratedCommandList",
    "event": "EventList",
}


def elements(cluster: Cluster, kind: ElementKind) -> list[Attribute | Command | Event]:
    """The cluster's elements that appear in the global list of ``kind``."""
    if kind == "attribute":
        return list(cluster.attributes)
    if kind == "accepted":
        return [c for c in cluster.commands if c.direction == "commandToServer"]
    if kind == "generated":
        return [c for c in cluster.commands if c.direction == "responseFromServer"]
    return list(cluster.events)


def context(
    cluster: Cluster,
    feature_map: int,
    *,
    attributes: Iterable[int] = (),
    accepted: Iterable[int] = (),
    generated: Iterable[int] = (),
    events: Iterable[int] = (),
) -> Context:
    """The conformance context of a DUT: its features and the names of the elements it exposes."""
    present: set[str] = set()
    by_kind: tuple[tuple[ElementKind, Iterable[int]], ...] = (
        ("attribute", attributes),
        ("accepted", accepted),
        ("generated", generated),
        ("event", events),
    )
    for kind, ids in by_kind:
        have = set(ids)
        present |= {e.name for e in elements(cluster, kind) if e.id in have}
    return Context.of(cluster.feature_codes(feature_map), present)


@dataclass
class ListFindings:
    """How a DUT's global list compares with the spec for its FeatureMap.

    Attributes:
        verdicts: element name -> conformance verdict.
        missing: required elements absent, as ``0xID Name (conformance)``.
        forbidden: present elements the features exclude.
        unknown: present ids that are neither in the spec, global, nor manufacturer-specific.
    """

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing missing, forbidden or unknown."""
        return not (self.missing or self.forbidden or self.unknown)


def label(element: Attribute | Command | Event | Field) -> str:
    """``0x0009 UserMaximumChargeCurrent (O)`` for messages."""
    width = 4 if isinstance(element, Attribute) else 2
    return f"0x{element.id:0{width}X} {element.name} ({element.conformance})"


def check_list(cluster: Cluster, kind: ElementKind, ids: Iterable[int], ctx: Context) -> ListFindings:
    """Compare a global list (AttributeList, AcceptedCommandList, ...) with the spec for ``ctx``."""
    have = set(ids)
    out = ListFindings()
    known = set()
    for element in elements(cluster, kind):
        known.add(element.id)
        verdict = evaluate(element.conformance, ctx)
        out.verdicts[element.name] = verdict
        if verdict.required and element.id not in have:
            out.missing.append(label(element))
        if not verdict.allowed and element.id in have:
            out.forbidden.append(label(element))
    if kind == "attribute":
        out.missing += [f"0x{g:04X} {GLOBAL_ATTRIBUTES[g]} (global, M)" for g in MANDATORY_GLOBALS if g not in have]
        known |= set(GLOBAL_ATTRIBUTES)
    out.unknown = sorted(i for i in have if i not in known and i < MANUFACTURER_PREFIX_MIN)
    return out


def feature_problems(cluster: Cluster, feature_map: int) -> list[str]:
    """Features the spec requires but FeatureMap lacks, bits it forbids or does not define."""
    ctx = Context.of(cluster.feature_codes(feature_map))
    problems = []
    for f in cluster.features:
        verdict = evaluate(f.conformance, ctx)
        has = bool(feature_map >> f.bit & 1)
        if verdict.required and not has:
            problems.append(f"feature {f.code} (bit {f.bit}, {f.conformance}) is mandatory but not in FeatureMap")
        if has and not verdict.allowed:
            problems.append(
                f"feature {f.code} (bit {f.bit}, {f.conformance}) is not allowed with {sorted(ctx.features)}"
            )
    defined = {f.bit for f in cluster.features}
    problems += [
        f"FeatureMap bit {b} is not defined by the spec" for b in range(32) if feature_map >> b & 1 and b not in defined
    ]
    return problems


# -- values ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValueSpec:
    """What an attribute's (or field's) value may be, from its type, quality and constraints.

    Attributes:
        type: the XML type name.
        kind: ``int``, ``bool``, ``str``, ``bytes``, ``list``, ``struct`` or ``unknown``.
        low, high: inclusive numeric range (type range narrowed by XML min/max/between; null's encoding excluded).
        xml_low, xml_high: the bounds the XML itself states (None = not stated).
        min_length, max_length: string/octet string length limits.
        max_count: list length limit.
        enum: allowed enum values for the context, value -> name (None when not an enum).
        bitmap_mask: the bits defined for the context (None when not a bitmap).
        nullable: null is a valid value.
        described: a ``desc`` constraint: the limit is prose, not checked here.
    """

    type: str
    kind: str
    low: int | None = None
    high: int | None = None
    xml_low: int | None = None
    xml_high: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    max_count: int | None = None
    enum: dict[int, str] | None = None
    bitmap_mask: int | None = None
    nullable: bool = False
    described: bool = False

    def describe(self) -> str:
        """One line for a test step's expectation."""
        parts = [self.type + (" (nullable)" if self.nullable else ", not null")]
        if self.enum is not None:
            parts.append("one of " + ", ".join(f"{v} {n}" for v, n in sorted(self.enum.items())))
        elif self.bitmap_mask is not None:
            parts.append(f"only bits 0x{self.bitmap_mask:X}")
        elif self.kind == "int":
            parts.append(f"within {self.low}..{self.high}")
        if self.max_length is not None:
            parts.append(f"length <= {self.max_length}")
        if self.max_count is not None:
            parts.append(f"at most {self.max_count} entries")
        if self.described:
            parts.append("further limits described in the spec text (not checked)")
        return "; ".join(parts)


def value_spec(cluster: Cluster, element: Attribute | Field, ctx: Context) -> ValueSpec:
    """The value rules of an attribute or field for the context (enum values depend on features)."""
    tname = element.type
    nullable = element.quality.nullable
    enum = mask = None
    if tname in cluster.data_types:
        dt = cluster.data_types[tname]
        if dt.kind == "enum":
            kind, low, high = "int", 0, 0xFF
            enum = {i.value: i.name for i in dt.items if evaluate(i.conformance, ctx).allowed}
        elif dt.kind == "bitmap":
            kind, low, high = "int", 0, 0xFFFF_FFFF
            mask = 0
            for i in dt.items:
                if evaluate(i.conformance, ctx).allowed:
                    mask |= 1 << i.value
        elif dt.kind == "struct":
            kind, low, high = "struct", None, None
        else:
            kind, low, high = "unknown", None, None
    else:
        kind, low, high = TYPES.get(tname, ("unknown", None, None))
    if nullable and kind == "int" and low is not None and high is not None and enum is None and mask is None:
        if low == 0 and high in _U.values():
            high -= 1  # the top unsigned value encodes null
        elif -low - 1 in {(m - 1) // 2 for m in _U.values()}:
            low += 1  # the bottom signed value encodes null
    xml_low = xml_high = None
    min_length = max_length = max_count = None
    described = False
    for c in element.constraints:
        if c.type == "min" and isinstance(c.value, int):
            xml_low = c.value
        elif c.type == "max" and isinstance(c.value, int):
            xml_high = c.value
        elif c.type == "between":
            xml_low = c.value if isinstance(c.value, int) else None
            xml_high = c.to if isinstance(c.to, int) else None
        elif c.type == "maxLength":
            max_length = c.value
        elif c.type == "minLength":
            min_length = c.value
        elif c.type == "maxCount":
            max_count = c.value
        elif c.type == "desc":
            described = True
    if xml_low is not None:
        low = xml_low if low is None else max(low, xml_low)
    if xml_high is not None:
        high = xml_high if high is None else min(high, xml_high)
    return ValueSpec(
        tname, kind, low, high, xml_low, xml_high, min_length, max_length, max_count, enum, mask, nullable, described
    )


def check_value(spec: ValueSpec, value: Any, *, is_null: bool = False) -> list[str]:
    """Problems with ``value`` against ``spec`` (empty = conformant)."""
    if is_null or value is None:
        return [] if spec.nullable else ["null, but the attribute is not nullable"]
    problems = []
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"expected an integer ({spec.type}), got {type(value).__name__} {value!r}"]
        v = int(value)
        if spec.enum is not None:
            if v not in spec.enum:
                problems.append(f"{v} is not a {spec.type} value allowed here ({sorted(spec.enum)})")
        elif spec.bitmap_mask is not None:
            if v & ~spec.bitmap_mask:
                problems.append(f"0x{v:X} sets bits outside the defined 0x{spec.bitmap_mask:X}")
        else:
            if spec.low is not None and v < spec.low:
                problems.append(f"{v} is below the minimum {spec.low}")
            if spec.high is not None and v > spec.high:
                problems.append(f"{v} is above the maximum {spec.high}")
    elif spec.kind == "bool":
        if not isinstance(value, bool):
            problems.append(f"expected a boolean, got {value!r}")
    elif spec.kind in ("str", "bytes"):
        want = str if spec.kind == "str" else (bytes, bytearray)
        if not isinstance(value, want):
            return [f"expected a {'string' if spec.kind == 'str' else 'octet string'}, got {value!r}"]
        if spec.max_length is not None and len(value) > spec.max_length:
            problems.append(f"length {len(value)} exceeds maxLength {spec.max_length}")
        if spec.min_length is not None and len(value) < spec.min_length:
            problems.append(f"length {len(value)} is below minLength {spec.min_length}")
    elif spec.kind == "list":
        if not isinstance(value, list | tuple):
            return [f"expected a list, got {value!r}"]
        if spec.max_count is not None and len(value) > spec.max_count:
            problems.append(f"{len(value)} entries exceed maxCount {spec.max_count}")
    return problems


# -- access ----------------------------------------------------------------------------------------------------------
CURRENT = object()
"""Write-case value placeholder: the value read before the writes."""


@dataclass(frozen=True)
class WriteCase:
    """One write of an attribute and the status the DUT must answer.

    Attributes:
        label: e.g. ``upper bound 86400``.
        value: the value to write, or :data:`CURRENT` for the value read.
        expect: ``SUCCESS``, ``CONSTRAINT_ERROR`` or ``UNSUPPORTED_WRITE``.
    """

    label: str
    value: Any
    expect: str


def write_cases(cluster: Cluster, attribute: Attribute, ctx: Context) -> list[WriteCase]:
    """The writes that prove an attribute's access and range (the restore of the value read comes after them).

    Read-only: writing the value read must give UNSUPPORTED_WRITE. Writable: where the XML gives a bound (min, max,
    between, maxLength) both ends of the range are written (the end the XML leaves open comes from the type) and
    must succeed, and one step beyond each encodable end must give CONSTRAINT_ERROR; an enum gets a value outside its
    set. Without any bound in the XML (none, or ``desc``) the value read is written back.
    """
    if not attribute.writable:
        return [WriteCase("the value read", CURRENT, "UNSUPPORTED_WRITE")]
    spec = value_spec(cluster, attribute, ctx)
    _, type_low, type_high = TYPES.get(spec.type, (spec.kind, None, None))
    cases: list[WriteCase] = []
    if spec.kind == "int" and spec.enum is not None:
        outside = next(v for v in range(0, 0x100) if v not in spec.enum)
        cases.append(WriteCase(f"{outside} (not a {spec.type} value)", outside, "CONSTRAINT_ERROR"))
    elif spec.kind == "int" and (spec.xml_low is not None or spec.xml_high is not None):
        assert spec.low is not None and spec.high is not None
        cases += [
            WriteCase(f"lower bound {spec.low}", spec.low, "SUCCESS"),
            WriteCase(f"upper bound {spec.high}", spec.high, "SUCCESS"),
        ]
        if type_low is None or spec.low - 1 >= type_low:
            cases.append(WriteCase(f"{spec.low - 1} (below the range)", spec.low - 1, "CONSTRAINT_ERROR"))
        if type_high is None or spec.high + 1 <= type_high:
            cases.append(WriteCase(f"{spec.high + 1} (above the range)", spec.high + 1, "CONSTRAINT_ERROR"))
    elif spec.kind == "str" and spec.max_length is not None:
        cases += [
            WriteCase(f"a string of maxLength {spec.max_length}", "x" * spec.max_length, "SUCCESS"),
            WriteCase(f"a string of {spec.max_length + 1} (too long)", "x" * (spec.max_length + 1), "CONSTRAINT_ERROR"),
        ]
    if not cases or all(c.expect != "SUCCESS" for c in cases):
        cases.insert(0, WriteCase("the value read (no bound in the XML)", CURRENT, "SUCCESS"))
    return cases


def timed_commands(cluster: Cluster) -> list[Command]:
    """Client-to-server commands the XML marks as timed (each must refuse an invoke without TimedRequest)."""
    return [c for c in cluster.commands if c.direction == "commandToServer" and c.access.timed]


# -- generated test steps ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepText:
    """A generated test step (number, description, expectation), turned into ``rig.steps.TestStep`` by the suite."""

    number: str
    description: str
    expectation: str = ""


def attribute_steps(cluster: Cluster, attribute: Attribute, ctx: Context | None = None) -> list[StepText]:
    """The steps of an attribute's check, worded like a test plan (enum values listed for ``ctx``)."""
    ctx = ctx or Context()
    spec = value_spec(cluster, attribute, ctx)
    access = "R" + ("W" if attribute.writable else "")
    privileges = f"read {attribute.access.read_privilege or 'view'}"
    if attribute.writable:
        privileges += f", write {attribute.access.write_privilege or 'operate'}"
    steps = [
        StepText(
            "1",
            "TH reads FeatureMap and AttributeList",
            f"0x{attribute.id:04X} {attribute.name} ({attribute.conformance}) is in AttributeList; if not, the "
            "check is skipped (presence is judged by the AttributeList case)",
        ),
        StepText("2", f"TH reads {attribute.name}", f"Value: {spec.describe()}"),
    ]
    for i, case in enumerate(write_cases(cluster, attribute, ctx), start=3):
        what = "the value read in step 2" if case.value is CURRENT else case.label
        expect = (
            "DUT responds SUCCESS and the value read back is the value written"
            if case.expect == "SUCCESS"
            else f"DUT responds {case.expect}"
        )
        steps.append(
            StepText(
                str(i),
                f"TH writes {attribute.name} = {what} ({access}, {privileges}; the TH has Administer privilege)",
                expect,
            )
        )
    if attribute.writable:
        steps.append(
            StepText(
                str(len(steps) + 1),
                f"TH writes {attribute.name} = the value read in step 2 (restore) and reads it back",
                "DUT responds SUCCESS and the value read equals the value of step 2",
            )
        )
    return steps


def command_steps(command: Command) -> list[StepText]:
    """The steps of a command's timed-invoke check."""
    return [
        StepText(
            "1",
            "TH reads FeatureMap and AcceptedCommandList",
            f"0x{command.id:02X} {command.name} ({command.conformance}) is in AcceptedCommandList; if not, the "
            "check is skipped (presence is judged by the AcceptedCommandList case)",
        ),
        StepText(
            "2",
            f"TH sends {command.name} without a preceding TimedRequest (the XML marks it timed, "
            f"invoke privilege {command.access.invoke_privilege or 'operate'})",
            "DUT responds NEEDS_TIMED_INTERACTION (0xC6) and does not execute the command",
        ),
    ]


def list_steps(cluster: Cluster, kind: ElementKind) -> list[StepText]:
    """The steps of a global-list check."""
    list_name = LIST_OF_KIND[kind]
    noun = {"attribute": "attribute", "accepted": "command", "generated": "response command", "event": "event"}[kind]
    steps = [
        StepText(
            "1",
            "TH reads ClusterRevision and FeatureMap",
            f"ClusterRevision = {cluster.revision}; FeatureMap sets every mandatory feature, no feature the "
            "others exclude and no undefined bit"
            if kind == "attribute"
            else "FeatureMap is noted: it decides each element's conformance",
        ),
        StepText("2", f"TH reads {list_name}", f"{list_name} is read"),
    ]
    steps += [
        StepText(
            "3",
            f"Verify every {noun} mandatory for the FeatureMap is in {list_name}",
            "Elements and their conformance: " + summarize([label(e) for e in elements(cluster, kind)]),
        ),
        StepText(
            "4",
            f"Verify no {noun} the FeatureMap excludes (disallowed) is in {list_name}",
            "No excluded element present",
        ),
        StepText(
            "5",
            f"Verify every other entry of {list_name} is defined by the spec"
            + (" or global" if kind == "attribute" else ""),
            "No unknown id in the standard range",
        ),
    ]
    return steps


def summarize(items: Sequence[str]) -> str:
    """``a, b, c`` or ``none``."""
    return ", ".join(items) if items else "none"
