"""Tests of rig.steps: order, completeness, skips, failure marking, timing and measurements."""

from __future__ import annotations

import json

import pytest

from rig.errors import StepError
from rig.steps import Measurement, StepRunner, TestStep

STEPS = [
    TestStep("1", "Commission DUT to TH", is_commissioning=True),
    TestStep("2", "TH reads State", "NotPluggedIn"),
    TestStep("3a", "TH reads UserMaximumChargeCurrent", "value in range", pics="EEVSE.S.A0009"),
    TestStep("3b", "TH sends EnableCharging", "SUCCESS"),
    TestStep("4", "TH sends Disable", "SUCCESS"),
]


class FakeClock:
    """Returns 100.0, 101.0, 102.0, ... on successive calls."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        value = self.now
        self.now += 1.0
        return value


def outcomes(runner: StepRunner) -> dict[str, str]:
    return {r.number: r.outcome for r in runner.records}


def test_walk_in_order_passes_every_step() -> None:
    runner = StepRunner(STEPS)
    for s in STEPS:
        runner.step(s.number)
    runner.finish()
    assert outcomes(runner) == {"1": "passed", "2": "passed", "3a": "passed", "3b": "passed", "4": "passed"}
    assert runner.failed_step is None
    assert runner.current is None


def test_out_of_order_names_expected_step_and_list() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.step("2")
    with pytest.raises(StepError) as info:
        runner.step("3b")
    message = str(info.value)
    assert "step '3b' called out of order: expected '3a'" in message
    assert "TC step list: 1, 2, 3a, 3b, 4" in message
    assert runner.current is not None and runner.current.number == "2"


def test_repeating_a_step_is_out_of_order() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    with pytest.raises(StepError, match="step '1' called out of order: expected '2'"):
        runner.step("1")


def test_unknown_step_number() -> None:
    runner = StepRunner(STEPS)
    with pytest.raises(StepError) as info:
        runner.step("99")
    assert "expected '1'" in str(info.value)
    assert "'99' is not declared" in str(info.value)


def test_step_after_last_reports_no_more_steps() -> None:
    runner = StepRunner(STEPS[:1])
    runner.step("1")
    with pytest.raises(StepError, match="no more steps"):
        runner.step("2")


def test_finish_lists_steps_not_run() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.step("2")
    with pytest.raises(StepError, match=r"not all steps were run: 3a, 3b, 4"):
        runner.finish()
    assert outcomes(runner) == {"1": "passed", "2": "passed", "3a": "not-run", "3b": "not-run", "4": "not-run"}


def test_finish_without_any_step_lists_all() -> None:
    runner = StepRunner(STEPS)
    with pytest.raises(StepError, match=r"not all steps were run: 1, 2, 3a, 3b, 4"):
        runner.finish()


def test_step_after_finish_is_refused() -> None:
    runner = StepRunner(STEPS[:1])
    runner.step("1")
    runner.finish()
    with pytest.raises(StepError, match="closed"):
        runner.step("2")


def test_pics_guard_false_skips_current_step_with_pics_in_reason() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.step("2")
    runner.step("3a")
    assert runner.pics_guard(False) is False
    runner.step("3b")
    runner.step("4")
    runner.finish()
    record = runner.records[2]
    assert record.outcome == "skipped"
    assert record.skip_reason is not None and "EEVSE.S.A0009" in record.skip_reason
    assert runner.records[3].outcome == "passed"


def test_pics_guard_true_keeps_step_running() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    assert runner.pics_guard(True) is True
    runner.step("2")
    assert runner.records[0].outcome == "passed"
    assert runner.records[0].skip_reason is None


def test_pics_guard_without_pics_uses_given_reason() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.pics_guard(False, "DUT has no RFID reader")
    assert runner.records[0].skip_reason == "DUT has no RFID reader"


def test_skip_next_step_then_continue() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.step("2")
    runner.skip("3a", "attribute not supported")
    assert runner.current is None
    runner.step("3b")
    runner.step("4")
    runner.finish()
    assert outcomes(runner)["3a"] == "skipped"
    assert runner.records[2].skip_reason == "attribute not supported"
    assert runner.records[2].started is None
    assert outcomes(runner)["2"] == "passed"


def test_skip_must_be_next_in_order() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    with pytest.raises(StepError, match="step '3a' called out of order: expected '2'"):
        runner.skip("3a", "no")


def test_skip_remaining_completes_the_walk() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.step("2")
    runner.skip_remaining("feature not supported")
    runner.finish()
    assert outcomes(runner) == {"1": "passed", "2": "passed", "3a": "skipped", "3b": "skipped", "4": "skipped"}
    assert all(r.skip_reason == "feature not supported" for r in runner.records[2:])


def test_skip_current_marks_running_step() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.skip_current("already commissioned")
    runner.step("2")
    assert runner.records[0].outcome == "skipped"
    assert runner.records[0].skip_reason == "already commissioned"


def test_fail_marks_current_step_and_leaves_rest_not_run() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    runner.step("2")
    runner.fail(AssertionError("State is 3, expected 0"))
    assert outcomes(runner) == {"1": "passed", "2": "failed", "3a": "not-run", "3b": "not-run", "4": "not-run"}
    failed = runner.failed_step
    assert failed is not None and failed.number == "2"
    assert failed.error == "AssertionError: State is 3, expected 0"
    runner.finish()  # no completeness error after a failure: the failure is the verdict
    assert outcomes(runner)["3a"] == "not-run"
    with pytest.raises(StepError, match="after a failure"):
        runner.step("3a")


def test_fail_with_text_and_no_step_in_progress() -> None:
    runner = StepRunner(STEPS)
    runner.fail("DUT unreachable")
    assert runner.error == "DUT unreachable"
    assert runner.failed_step is None
    assert set(outcomes(runner).values()) == {"not-run"}


def test_timing_with_fake_clock() -> None:
    clock = FakeClock()
    runner = StepRunner(STEPS[:2], clock=clock)
    runner.step("1")  # started 100
    runner.step("2")  # 1 ended 101, 2 started 102
    runner.finish()  # 2 ended 103
    first, second = runner.records
    assert (first.started, first.ended, first.duration) == (100.0, 101.0, 1.0)
    assert (second.started, second.ended) == (102.0, 103.0)


def test_notes_go_to_current_step() -> None:
    runner = StepRunner(STEPS)
    with pytest.raises(StepError, match="step in progress"):
        runner.note("too early")
    runner.step("1")
    runner.step("2")
    runner.note("State = 0")
    assert runner.records[1].notes == ["State = 0"]
    assert runner.records[0].notes == []


@pytest.mark.parametrize(
    ("value", "low", "high", "expected", "verdict"),
    [
        (16000, 6000, 32000, None, "pass"),
        (6000, 6000, 32000, None, "pass"),
        (5999, 6000, 32000, None, "fail"),
        (32001, 6000, 32000, None, "fail"),
        (float("nan"), 0, None, None, "fail"),
        ("x", 0, 1, None, "fail"),
        (True, 0, 1, None, "fail"),
        (3, None, None, 3, "pass"),
        (2, None, None, 3, "fail"),
        ("anything", None, None, None, "pass"),
    ],
)
def test_measurement_verdict(
    value: object, low: float | None, high: float | None, expected: object, verdict: str
) -> None:
    m = Measurement("x", value, "mA", low, high, expected)  # type: ignore[arg-type]
    assert m.verdict == verdict


def test_measure_within_limits_is_recorded_as_pass() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    m = runner.measure("MaximumChargeCurrent", 16000, "mA", low=6000, high=32000)
    assert m.verdict == "pass"
    assert runner.records[0].measurements == [m]


def test_measure_outside_limits_raises_and_stays_recorded() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    with pytest.raises(AssertionError) as info:
        runner.measure("MaximumChargeCurrent", 40000, "mA", low=6000, high=32000)
    message = str(info.value)
    assert "MaximumChargeCurrent" in message and "40000" in message
    assert "6000 <= x <= 32000 mA" in message
    recorded = runner.records[0].measurements
    assert len(recorded) == 1 and recorded[0].verdict == "fail"


def test_measure_expected_value_mismatch() -> None:
    runner = StepRunner(STEPS)
    runner.step("1")
    with pytest.raises(AssertionError, match=r"'State' = 3 .*x == 0"):
        runner.measure("State", 3, expected=0)


def test_duplicate_step_numbers_rejected() -> None:
    with pytest.raises(StepError, match="'2' is declared twice"):
        StepRunner([TestStep("1", "a"), TestStep("2", "b"), TestStep("2", "c")])


def test_to_dicts_is_json_ready() -> None:
    runner = StepRunner(STEPS, clock=FakeClock())
    runner.step("1")
    runner.note("commissioned")
    runner.measure("v", 230.0, "V", low=207, high=253)
    runner.skip_remaining("demo")
    runner.finish()
    data = json.loads(json.dumps(runner.to_dicts()))
    assert [d["number"] for d in data] == ["1", "2", "3a", "3b", "4"]
    assert data[0]["outcome"] == "passed" and data[0]["notes"] == ["commissioned"]
    assert data[0]["measurements"][0] == {
        "name": "v",
        "value": 230.0,
        "unit": "V",
        "low": 207,
        "high": 253,
        "expected": None,
        "verdict": "pass",
    }
    assert data[2]["pics"] == "EEVSE.S.A0009" and data[2]["outcome"] == "skipped"


def test_test_step_is_not_collected_by_pytest() -> None:
    assert TestStep.__test__ is False
