"""Results database (SQLite) and comparisons: regressions, fixes, drift, flaky cases, exit codes, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.report.compare import compare, format_html, format_text, side_from_db, side_from_record
from rig.report.db import ResultsDb, ResultsDbError
from rig.report.record import RecordError, dumps_record, write_atomic
from rig.report.synthetic import make_record
from tests.report.conftest import rig


def _save(tmp: Path, rec: dict) -> Path:
    path = tmp / rec["run_id"] / "report.json"
    write_atomic(path, dumps_record(rec))
    return path


@pytest.fixture
def db_with_runs(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite DB with build 1.0.0 (runs a1, a2: case 5 flaky), build 1.1.0 (run b1: cases 2 and 3 regress)."""
    url = str(tmp_path / "results.sqlite")
    a1 = make_record(6, run_id="a1", build="1.0.0", fail=frozenset({4}))
    a2 = make_record(6, run_id="a2", build="1.0.0", fail=frozenset({4, 5}))
    b1 = make_record(6, run_id="b1", build="1.1.0", sw_version=2, fail=frozenset({2, 3, 5}), drift=0.25)
    b1["cases"].pop(0)  # TC-GEN-00000 only in A
    with ResultsDb(url, create=True) as db:
        for rec in (a1, a2, b1):
            db.import_record(rec, str(_save(tmp_path, rec)))
    return url, tmp_path


def test_compare_lists_regressions_fixes_drift_flaky_and_missing(db_with_runs: tuple[str, Path]) -> None:
    url, _ = db_with_runs
    with ResultsDb(url) as db:
        c = compare(side_from_db(db, "1.0.0"), side_from_db(db, "1.1.0"), 10.0, db)
    assert c.a.run_id == "a2" and c.a.runs == ["a1", "a2"], "a build stands for its latest run"
    assert c.newly_failing == ["TC-GEN-00002", "TC-GEN-00003"] and c.regression
    assert c.newly_passing == ["TC-GEN-00004"]
    assert c.still_failing == ["TC-GEN-00005"]
    assert c.only_in_a == ["TC-GEN-00000"] and c.only_in_b == []
    assert c.flaky == {"TC-GEN-00005": ["1.0.0"]}
    assert c.drifted and all(d.name == "MaximumChargeCurrent" and 20 < d.pct < 30 for d in c.drifted)
    assert "Newly failing (2)" in format_html(c)
    with ResultsDb(url) as db:
        assert compare(side_from_db(db, "a1"), side_from_db(db, "a2"), 10.0, db).newly_failing == ["TC-GEN-00005"]
        assert not compare(side_from_db(db, "a1"), side_from_db(db, "a1"), 30.0, db).drifted


def test_drift_threshold_and_from_zero() -> None:
    a = make_record(2, run_id="x")
    b = make_record(2, run_id="y", drift=0.05)
    assert compare(side_from_record(a, "x"), side_from_record(b, "y"), 10.0).drifted == []
    assert len(compare(side_from_record(a, "x"), side_from_record(b, "y"), 1.0).drifted) == 4
    b["cases"][0]["steps"][2]["measurements"][0]["value"] = 5.0
    a["cases"][0]["steps"][2]["measurements"][0]["value"] = 0
    d = compare(side_from_record(a, "x"), side_from_record(b, "y"), 10.0).drifted
    assert d[0].case == "TC-GEN-00000" and d[0].pct == float("inf")


def test_history_and_compare_commands(db_with_runs: tuple[str, Path]) -> None:
    url, tmp = db_with_runs
    hist = rig("history", "--db", url)
    assert hist.returncode == 0, hist.stderr
    lines = hist.stdout.splitlines()
    assert lines[0].split()[:3] == ["software", "build", "run"]
    assert [ln.split()[3] for ln in lines[1:]] == ["a1", "a2", "b1"], "ordered by software version"
    assert rig("history", "--db", url, "--dut", "no-such-dut").stdout.startswith("rig: no runs")
    out = tmp / "cmp.html"
    proc = rig("compare", "1.0.0", "1.1.0", "--db", url, "--html", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "newly failing: 2" in proc.stdout and "REGRESSION: TC-GEN-00002, TC-GEN-00003" in proc.stdout
    assert "[flaky on 1.0.0]" in proc.stdout
    assert "Newly failing (2)" in out.read_text()
    ok = rig("compare", "b1", "a1", "--db", url, "--threshold", "50")
    assert ok.returncode == 1 and "TC-GEN-00004" in ok.stdout  # 4 fails in a1 only
    same = rig("compare", "a1", "a1", "--db", url)
    assert same.returncode == 0 and "no regression" in same.stdout
    by_path = rig("compare", str(tmp / "a1"), str(tmp / "b1" / "report.json"), "--db", url)
    assert by_path.returncode == 1 and "REGRESSION" in by_path.stdout


def test_compare_bad_input_exits_2_with_a_clear_message(db_with_runs: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = db_with_runs
    before = Path(url).read_bytes()
    unknown = rig("compare", "a1", "9.9.9", "--db", url)
    assert unknown.returncode == 2 and "'9.9.9': no run id, build or software version" in unknown.stderr
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"results": []}')
    bad = rig("compare", "a1", str(foreign), "--db", url)
    assert bad.returncode == 2 and "not a rig run record" in bad.stderr
    nodb = rig("history", "--db", str(tmp_path / "none.sqlite"))
    assert nodb.returncode == 2 and "no results database at" in nodb.stderr
    assert not (tmp_path / "none.sqlite").exists()
    notdb = tmp_path / "text.sqlite"
    notdb.write_text("not a database")
    assert "not a rig results database" in rig("history", "--db", str(notdb)).stderr
    for out in (unknown, bad, nodb):
        assert "Traceback" not in out.stderr
    assert Path(url).read_bytes() == before, "existing results untouched"


def test_a_bad_record_import_leaves_the_database_untouched(db_with_runs: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = db_with_runs
    before = Path(url).read_bytes()
    broken = make_record(2, run_id="a1")
    broken["cases"][1]["outcome"] = "bogus"
    with ResultsDb(url) as db, pytest.raises(RecordError):
        db.import_record(broken)
    trunc = tmp_path / "20260101-000000-trunc1"
    trunc.mkdir()
    (trunc / "report.json").write_text(dumps_record(make_record(3))[:500])
    proc = rig("report", "import", str(trunc), "--db", url)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    assert Path(url).read_bytes() == before
    with ResultsDb(url) as db:
        assert [r.run_id for r in db.runs()] == ["a1", "a2", "b1"]


def test_reimport_replaces_a_run(db_with_runs: tuple[str, Path]) -> None:
    url, _ = db_with_runs
    with ResultsDb(url) as db:
        db.import_record(make_record(2, run_id="a1", build="1.0.0"))
        assert len(db.cases("a1")) == 2 and len([r for r in db.runs() if r.run_id == "a1"]) == 1


def test_unreachable_postgresql_url_is_a_clear_error() -> None:
    with pytest.raises(ResultsDbError, match=r"unreachable.*check the URL"):
        ResultsDb("postgresql://rig:secret@127.0.0.1:1/results", timeout_s=2)
    proc = rig("history", "--db", "postgresql://rig:secret@127.0.0.1:1/results")
    assert proc.returncode == 2 and "unreachable" in proc.stderr and "secret" not in proc.stderr


ESCAPES = "\x1b]0;owned\x07\x1b[2J\x9b31m\r\u202e"
"""What a hostile DUT string could carry to a terminal: OSC title, clear screen, C1 CSI, carriage return, RTL."""


def _hostile_db(tmp_path: Path) -> str:
    url = str(tmp_path / "hostile.sqlite")
    a = make_record(3, run_id="h1", build="1.0.0")
    b = make_record(3, run_id="h2", build=f"2.0{ESCAPES}", sw_version=2, fail=frozenset({1}))
    ident = b["dut"]["identity"]
    ident["ProductName"], ident["SerialNumber"] = f"Wallbox{ESCAPES}", f"SN{ESCAPES}"
    b["station"]["name"] = f"bench{ESCAPES}"
    b["cases"][1]["steps"][3]["number"] = f"4{ESCAPES}"
    b["cases"][1]["failed_step"] = f"4{ESCAPES}"
    b["cases"][1]["steps"][2]["measurements"][0]["value"] *= 2
    with ResultsDb(url, create=True) as db:
        for rec in (a, b):
            db.import_record(rec, str(_save(tmp_path, rec)))
    return url


def _inert(text: str) -> None:
    """Nothing in ``text`` acts on a terminal: no C0 control but newline, no DEL, no C1, no bidi control."""
    for ch in text:
        assert ch == "\n" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or 0x202A <= ord(ch) <= 0x202E), repr(ch)


def test_history_and_compare_show_escape_sequences_from_the_dut_as_text(tmp_path: Path) -> None:
    url = _hostile_db(tmp_path)
    hist = rig("history", "--db", url)
    assert hist.returncode == 0, hist.stderr
    _inert(hist.stdout)
    assert "SN\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\r\\u202e" in hist.stdout, "shown as escapes"
    assert len(hist.stdout.splitlines()) == 3, "one line per run: a carriage return or newline cannot split one"
    proc = rig("compare", "h1", "h2", "--db", url, "--threshold", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _inert(proc.stdout)
    assert "at step 4\\x1b]0;owned" in proc.stdout
    assert "build 2.0\\x1b]0;owned" in proc.stdout
    with ResultsDb(url) as db:
        text = format_text(compare(side_from_db(db, "h1"), side_from_db(db, "h2"), 1.0, db))
    _inert(text)
