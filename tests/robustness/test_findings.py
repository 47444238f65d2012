"""Findings about bad input that the corpus tables do not show by themselves: ``history --dut`` wildcards, the
configured results database, input files straight under /tmp, URL passwords in messages."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig import sandbox
from rig.config import load_config
from rig.dut import dut_for
from rig.report.db import ResultsDb, ResultsDbError, redact, resolve_url
from rig.report.record import dumps_record
from rig.report.synthetic import make_record
from rig.session import _inputs
from tests.robustness.cli import run_rig
from tests.robustness.expect import assert_refused

REPO = Path(__file__).resolve().parents[2]


def _record(run_id: str, serial: str) -> dict[str, object]:
    record = make_record(1, run_id=run_id)
    record["dut"]["identity"]["SerialNumber"] = serial  # type: ignore[index]
    return record


def test_history_dut_matches_percent_and_underscore_literally(tmp_path: Path) -> None:
    db_path = tmp_path / "results.sqlite"
    with ResultsDb(str(db_path), create=True) as db:
        db.import_record(_record("20260101-000000-aaaaaa", "SN_100%"), None)
        db.import_record(_record("20260101-000000-bbbbbb", "SNX1009"), None)
        db.import_record(_record("20260101-000000-cccccc", "back\\slash"), None)
        assert [r.run_id for r in db.runs("_100%")] == ["20260101-000000-aaaaaa"]
        assert [r.run_id for r in db.runs("%")] == ["20260101-000000-aaaaaa"]
        assert [r.run_id for r in db.runs("N_")] == ["20260101-000000-aaaaaa"]
        assert [r.run_id for r in db.runs("\\")] == ["20260101-000000-cccccc"]
        assert len(db.runs("sn")) == 2
    outcome = run_rig(["history", "--dut", "%", "--db", str(db_path)], cwd=tmp_path)
    assert outcome.code == 0 and "20260101-000000-aaaaaa" in outcome.out
    assert "bbbbbb" not in outcome.out and "cccccc" not in outcome.out


@pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "postgresql+psycopg://u:pw@h/db", "mssql+pyodbc://h/db"])
def test_unsupported_database_urls_make_no_sqlite_file(tmp_path: Path, url: str) -> None:
    with pytest.raises(ResultsDbError, match="is not supported"):
        ResultsDb(url, create=True)
    with pytest.raises(ResultsDbError, match="is not supported"):
        resolve_url(url, tmp_path)
    assert not any(tmp_path.iterdir()) and not Path(url).exists()


def test_url_passwords_are_redacted() -> None:
    assert redact("postgresql://rig:pw@db:5432/r") == "postgresql://rig:***@db:5432/r"
    assert redact("postgresql://rig:p@ss@db/r") == "postgresql://rig:***@db/r"
    assert redact('missing "=" after "host=db password=pw"') == 'missing "=" after "host=db password=***"'
    assert redact("postgresql://db/r?sslmode=require&password=pw") == "postgresql://db/r?sslmode=require&password=***"
    assert redact("postgresql://rig@db/r") == "postgresql://rig@db/r"


def test_unreachable_postgres_message_hides_the_password(tmp_path: Path) -> None:
    with pytest.raises(ResultsDbError) as info:
        ResultsDb("postgresql://rig:hunter2@127.0.0.1:1/results", timeout_s=1)
    assert "hunter2" not in str(info.value) and "rig:***@127.0.0.1:1" in str(info.value)


def test_typo_in_report_section_is_not_ignored_by_import_and_history(tmp_path: Path) -> None:
    text = (REPO / "rig.yaml").read_text().replace("report:\n", "report:\n  databse: elsewhere.sqlite\n", 1)
    (tmp_path / "rig.yaml").write_text(text)
    (tmp_path / "report.json").write_text(dumps_record(make_record(1)))
    for argv in (["history"], ["report", "import", "report.json"]):
        outcome = run_rig(argv, cwd=tmp_path)
        assert_refused(outcome, "report.databse: unknown key", "--db")
    assert not (tmp_path / "reports").exists()
    # with --db the configured database does not matter
    outcome = run_rig(["report", "import", "report.json", "--db", str(tmp_path / "x.sqlite")], cwd=tmp_path)
    assert outcome.code == 0, outcome.err


@pytest.fixture
def tmp_file() -> Iterator[Path]:
    """A PICS file straight under /tmp (not in a sub-folder): the case the private /tmp hid."""
    fd, name = tempfile.mkstemp(prefix="rig-evse-", suffix=".xml", dir="/tmp")
    os.close(fd)
    path = Path(name)
    shutil.copy(REPO / "examples" / "pics" / "virtual-evse.xml", path)
    yield path
    path.unlink(missing_ok=True)


def test_inputs_straight_under_tmp_are_kept_visible(tmp_file: Path) -> None:
    cfg = load_config(REPO / "rig.yaml", overrides={"dut.pics": str(tmp_file)})
    kept = sandbox.kept_visible(set(_inputs(cfg, dut_for(cfg))))
    assert tmp_file in kept
    assert sandbox.kept_visible({Path("/tmp"), Path("/tmp/a"), Path("/tmp/a/b.xml"), Path("/tmp/c.xml")}) == [
        Path("/tmp/a"),
        Path("/tmp/c.xml"),
    ]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="the sandbox needs root and unshare")
def test_a_file_straight_under_tmp_is_readable_inside_the_sandbox(tmp_file: Path) -> None:
    tmp_file.write_text("EEVSE.S=1\n")
    with sandbox.Sandbox(sandbox.new_run_id(), with_netns=False, visible=[tmp_file]) as sb:
        code = sb.run([sys.executable, "-c", f"import sys; sys.exit(open({str(tmp_file)!r}).read() != 'EEVSE.S=1\\n')"])
    assert code == 0
