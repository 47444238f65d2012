"""TC-EEVSE-SPEC: the Energy EVSE cluster against its specification XML (spec/EnergyEVSE.xml), checks generated.

Everything here is derived from the XML by ``rig.spec`` and the DUT's FeatureMap, nothing is hand-written per
element, so a new revision of the XML (or another cluster file) regenerates the checks:

* one case per global list (``TC-EEVSE-SPEC-AttributeList`` ...): every element mandatory for the FeatureMap is
  present, none the features exclude, no unknown id; for AttributeList also ClusterRevision and FeatureMap;
* one case per attribute (``TC-EEVSE-SPEC-A0009`` ...): type, range (XML min/max/maxLength, enum values allowed for
  the FeatureMap), nullability; access: a read-only attribute rejects a write with UNSUPPORTED_WRITE, a writable
  one takes both bounds the XML gives, refuses one step beyond (CONSTRAINT_ERROR) and gets its value back;
* one case per timed command (``TC-EEVSE-SPEC-C02`` ...): refused without TimedRequest (NEEDS_TIMED_INTERACTION).

Attribute and command items carry their element's PICS code (``EEVSE.S.A0004``, ``EEVSE.S.C02.Rsp``), so a PICS file
without the element, or a DUT without it when no file is given, makes the item not applicable, with the reason.

Why parametrised items rather than one case with many steps: a step runner stops at the first failing step, so one
big case would hide every nonconformity after the first; one item per element gives each its own verdict, its own
row in the report and JUnit (named by element), and a re-run of just one (``-k A000A``). Each item is still a
proper case: its steps are generated from the XML and worded like a test plan.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from rig.errors import MatterStatusError
from rig.matter.controller import Clusters
from rig.matter.eevse import is_null
from rig.pics import accepted_command_code, attribute_code
from rig.pytest_plugin.state import RUNNER_KEY
from rig.spec import CURRENT, check_list, check_value, context, energy_evse, evaluate, feature_problems, value_spec
from rig.spec.checks import (
    LIST_OF_KIND,
    attribute_steps,
    command_steps,
    list_steps,
    summarize,
    timed_commands,
    write_cases,
)
from rig.steps import StepRunner, TestStep

CLUSTER = energy_evse()
CODE = "TC-EEVSE-SPEC"

pytestmark = [pytest.mark.pics("EEVSE.S")]

STEPS = [TestStep("1", "Generated per item from the spec XML (see the steps fixture)")]  # documentation only

EVENT_LIST_ID = 0xFFFA


def _param(value: Any, ident: str, tc: str, title: str, pics: str | None = None) -> Any:
    marks = [pytest.mark.tc(tc, title)] + ([pytest.mark.pics(pics)] if pics else [])
    return pytest.param(value, id=ident, marks=marks)


LIST_PARAMS = [
    _param(kind, f"list-{name}", f"{CODE}-{name}", f"{name} against the spec for the DUT's FeatureMap")
    for kind, name in LIST_OF_KIND.items()
]
# Each attribute and command item also carries the element's PICS code: a PICS file that does not support it (or,
# without one, a DUT that lacks it) makes the item not applicable, with the reason.
ATTRIBUTE_PARAMS = [
    _param(
        a,
        f"attr-0x{a.id:04X}-{a.name}",
        f"{CODE}-A{a.id:04X}",
        f"{a.name}: type, range, nullability and access per the spec XML",
        attribute_code(a.id),
    )
    for a in CLUSTER.attributes
]
COMMAND_PARAMS = [
    _param(
        c,
        f"cmd-0x{c.id:02X}-{c.name}",
        f"{CODE}-C{c.id:02X}",
        f"{c.name}: refused without a TimedRequest",
        accepted_command_code(c.id),
    )
    for c in timed_commands(CLUSTER)
]


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> StepRunner:
    """This module's step runner: the steps of each item are generated from the spec XML."""
    params = request.node.callspec.params
    if "kind" in params:
        generated = list_steps(CLUSTER, params["kind"])
    elif "attribute" in params:
        generated = attribute_steps(CLUSTER, params["attribute"])
    else:
        generated = command_steps(params["command"])
    runner = StepRunner([TestStep(s.number, s.description, s.expectation) for s in generated])
    request.node.stash[RUNNER_KEY] = runner
    return runner


# -- the DUT side: generic reads by id (the controller's cluster objects) --------------------------------------------
def _objects() -> Any:
    return Clusters.ClusterObjects


def _attribute_class(attribute_id: int) -> Any:
    return _objects().ALL_ATTRIBUTES[CLUSTER.id][attribute_id]


def _command_class(command_id: int) -> Any:
    return _objects().ALL_ACCEPTED_COMMANDS[CLUSTER.id][command_id]


async def _read(node: Any, attribute_id: int) -> Any:
    return await node.read(_attribute_class(attribute_id))


async def _dut_context(node: Any) -> tuple[int, list[int], Any]:
    """(FeatureMap, AttributeList, conformance context) of the DUT, read in one interaction."""
    ids = (0xFFFC, 0xFFFB, 0xFFF9, 0xFFF8)  # FeatureMap, AttributeList, AcceptedCommandList, GeneratedCommandList
    classes = [_attribute_class(i) for i in ids]
    values = await node.read_many(classes)
    missing = [f"0x{i:04X}" for i, c in zip(ids, classes, strict=True) if not isinstance(values.get(c), int | list)]
    if missing:
        raise AssertionError(f"the DUT returned no value for the global attribute(s) {', '.join(missing)}")
    feature_map, attributes, accepted, generated = (values[c] for c in classes)
    ctx = context(
        CLUSTER, int(feature_map), attributes=list(attributes), accepted=list(accepted), generated=list(generated)
    )
    return int(feature_map), list(attributes), ctx


def _features(feature_map: int) -> str:
    return f"0x{feature_map:x} ({summarize(sorted(CLUSTER.feature_codes(feature_map)))})"


# -- cases -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", LIST_PARAMS)
async def test_spec_element_list(steps, evse, kind) -> None:
    node = evse.node
    list_name = LIST_OF_KIND[kind]
    steps.step("1")
    feature_map, attributes, ctx = await _dut_context(node)
    steps.note(f"FeatureMap = {_features(feature_map)}")
    if kind == "attribute":
        revision = int(await _read(node, 0xFFFD))
        steps.measure("ClusterRevision", revision, expected=CLUSTER.revision)
        problems = feature_problems(CLUSTER, feature_map)
        if problems:
            raise AssertionError("FeatureMap: " + "; ".join(problems))

    steps.step("2")
    if kind == "event":
        if EVENT_LIST_ID not in attributes or EVENT_LIST_ID not in _objects().ALL_ATTRIBUTES[CLUSTER.id]:
            reason = (
                "EventList (0xFFFA, provisional global attribute) is not in the DUT's AttributeList or not "
                "readable by the controller: events are exercised by the TC-EEVSE-2.x cases"
            )
            steps.skip_current(reason)
            steps.skip_remaining(reason)
            pytest.skip(reason)
        ids = list(await _read(node, EVENT_LIST_ID))
    else:
        ids = {
            "attribute": attributes,
            "accepted": list(await _read(node, 0xFFF9)),
            "generated": list(await _read(node, 0xFFF8)),
        }[kind]
    steps.note(f"{list_name} = [{', '.join(f'0x{i:04X}' for i in sorted(ids))}]")
    findings = check_list(CLUSTER, kind, ids, ctx)
    for name, verdict in findings.verdicts.items():
        steps.note(f"{name}: {verdict.kind}")

    steps.step("3")
    if findings.missing:
        raise AssertionError(
            f"{list_name} lacks elements mandatory for FeatureMap {_features(feature_map)}: "
            f"{summarize(findings.missing)}"
        )
    steps.step("4")
    if findings.forbidden:
        raise AssertionError(
            f"{list_name} holds elements FeatureMap {_features(feature_map)} excludes: {summarize(findings.forbidden)}"
        )
    steps.step("5")
    if findings.unknown:
        raise AssertionError(
            f"{list_name} holds ids the spec does not define: {summarize([f'0x{i:04X}' for i in findings.unknown])}"
        )


@pytest.mark.parametrize("attribute", ATTRIBUTE_PARAMS)
async def test_spec_attribute(steps, evse, attribute) -> None:
    node = evse.node
    steps.step("1")
    feature_map, attributes, ctx = await _dut_context(node)
    verdict = evaluate(attribute.conformance, ctx)
    steps.note(
        f"FeatureMap = {_features(feature_map)}; {attribute.name} ({attribute.conformance}) is {verdict.kind} here"
    )
    if attribute.id not in attributes:
        reason = f"{attribute.name} is not in AttributeList ({verdict.kind} for this FeatureMap)"
        steps.skip_remaining(reason)
        pytest.skip(reason)

    steps.step("2")
    spec = value_spec(CLUSTER, attribute, ctx)
    value = await _read(node, attribute.id)
    null = is_null(value)
    steps.note(f"{attribute.name} = {'null' if null else repr(value)}")
    if not null and spec.kind == "int" and spec.enum is None and spec.bitmap_mask is None:
        steps.measure(attribute.name, int(value), low=spec.low, high=spec.high)
    elif not null and spec.kind in ("str", "bytes") and spec.max_length is not None:
        steps.measure(f"len({attribute.name})", len(value), low=spec.min_length, high=spec.max_length)
    problems = check_value(spec, value, is_null=null)
    if problems:
        raise AssertionError(f"{attribute.name}: " + "; ".join(problems))

    cases = write_cases(CLUSTER, attribute, ctx)
    cls = _attribute_class(attribute.id)
    try:
        for number, case in enumerate(cases, start=3):
            steps.step(str(number))
            written = value if case.value is CURRENT else case.value
            if case.expect == "SUCCESS":
                await node.write(cls(written))
                back = await _read(node, attribute.id)
                steps.note(f"wrote {written!r}: SUCCESS; read back {back!r}")
                if back != written and not (is_null(back) and is_null(written)):
                    raise AssertionError(f"{attribute.name}: wrote {written!r}, read back {back!r}")
            else:
                try:
                    await node.write(cls(written))
                except MatterStatusError as exc:
                    steps.note(f"wrote {written!r}: {exc.status}")
                    if exc.status != case.expect:
                        raise AssertionError(
                            f"{attribute.name} = {written!r}: expected {case.expect}, got {exc.status}"
                        ) from None
                else:
                    raise AssertionError(
                        f"{attribute.name} = {written!r}: expected {case.expect}, the DUT answered SUCCESS"
                    )
        if attribute.writable:
            steps.step(str(len(cases) + 3))
            await node.write(cls(value))
            back = await _read(node, attribute.id)
            steps.note(f"restored {value!r}; read back {back!r}")
            if back != value and not (is_null(back) and is_null(value)):
                raise AssertionError(f"{attribute.name}: restored {value!r}, read back {back!r}")
    finally:
        if attribute.writable:  # whatever happened, leave the DUT as it was
            with contextlib.suppress(MatterStatusError):
                await node.write(cls(value))


@pytest.mark.parametrize("command", COMMAND_PARAMS)
async def test_spec_command_timed(steps, evse, command) -> None:
    node = evse.node
    steps.step("1")
    fm_cls, accepted_cls = _attribute_class(0xFFFC), _attribute_class(0xFFF9)
    values = await node.read_many([fm_cls, accepted_cls])
    feature_map, accepted = int(values[fm_cls]), list(values[accepted_cls])
    steps.note(f"FeatureMap = {_features(feature_map)}; AcceptedCommandList = {accepted}")
    if command.id not in accepted:
        reason = f"{command.name} is not in AcceptedCommandList"
        steps.skip_remaining(reason)
        pytest.skip(reason)

    steps.step("2")
    payload = _command_class(command.id)()  # default fields: a timed-invoke check must refuse before executing
    exc = await evse.expect_status("NEEDS_TIMED_INTERACTION", node.invoke(payload, timed=False))
    steps.note(f"{command.name} without TimedRequest: {exc.status} (0x{exc.code:02X})")
