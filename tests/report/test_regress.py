"""The regression report of `rig regress` (rig.report.regress): regressions and fixes between consecutive builds,
links only to run ids of the rig's own form, and every string from an image or a DUT escaped."""

from __future__ import annotations

from typing import Any

from rig.report.regress import build_report, format_html, run_link

RUNS = ["20260101-000000-aaaaaa", "20260101-000100-bbbbbb", "20260101-000200-cccccc"]


def _record(run_id: str, build: str, **outcomes: str) -> dict[str, Any]:
    cases = [
        {"id": cid.replace("_", "-").replace("-2-", "-2."), "title": "t", "outcome": o, "failed_step": None}
        for cid, o in outcomes.items()
    ]
    return {"run_id": run_id, "build": build, "cases": cases}


def _builds(*strings: str) -> list[dict[str, Any]]:
    return [
        {"image": f"b{i}.ota", "software_version": i + 2, "software_version_string": s, "run": {"run_id": RUNS[i]}}
        for i, s in enumerate(strings)
    ]


def test_regression_and_fix_between_consecutive_builds() -> None:
    records = [
        _record(RUNS[0], "2", TC_EEVSE_2_1="passed", TC_EEVSE_2_2="passed"),
        _record(RUNS[1], "3", TC_EEVSE_2_1="skipped", TC_EEVSE_2_2="failed"),
        _record(RUNS[2], "4", TC_EEVSE_2_1="error", TC_EEVSE_2_2="passed"),
    ]
    report = build_report(_builds("2", "3", "4"), list(records))
    # skipped -> error is not a regression (it did not pass on the build before); passed -> failed is
    assert report["regressions"] == [{"case": "TC-EEVSE-2.2", "build": 1, "previous": 0}]
    assert report["fixes"] == [{"case": "TC-EEVSE-2.2", "build": 2, "previous": 1}]
    assert report["regression"] is True
    assert [b["run"]["report"] for b in report["builds"]] == [f"../{r}/report.html" for r in RUNS]


def test_an_untested_build_is_skipped_for_the_comparison() -> None:
    builds = _builds("2", "3", "4")
    builds[1]["run"] = None
    records = [_record(RUNS[0], "2", TC_EEVSE_2_2="passed"), None, _record(RUNS[2], "4", TC_EEVSE_2_2="failed")]
    report = build_report(builds, records)
    assert report["regressions"] == [{"case": "TC-EEVSE-2.2", "build": 2, "previous": 0}]
    assert report["cases"][0]["cells"][1]["outcome"] == "not-run"


def test_strings_from_images_and_duts_are_escaped_and_links_only_from_run_ids() -> None:
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    builds = _builds(evil, "3")
    builds[1]["run"] = {"run_id": "../../etc/passwd"}
    records = [_record(RUNS[0], evil, TC_EEVSE_2_2="passed"), _record("x", evil, TC_EEVSE_2_2="failed")]
    records[1]["cases"][0]["failed_step"] = evil
    records[1]["cases"][0]["outcome"] = evil
    report = build_report(builds, records)
    report.update(id="regress-1", selection={"description": evil}, restore=None, left_running=evil)
    page = format_html(report)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page
    assert 'href="../../etc' not in page
    assert run_link("../../etc/passwd") is None and run_link(RUNS[0]) == f"../{RUNS[0]}/report.html"
    assert "script-src 'none'" in page
