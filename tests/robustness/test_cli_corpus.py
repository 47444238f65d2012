"""Robustness corpus, command-line values: results database URLs, ``--set`` overrides, output paths, thresholds,
input paths. Every case: the documented exit code (2), one line naming the value, no traceback, bounded in time,
nothing written (no SQLite file named after a URL, no half-written output); a URL's password never shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.report.record import dumps_record
from rig.report.synthetic import make_record
from tests.robustness.cli import run_rig, snapshot
from tests.robustness.expect import assert_refused

SECRET = "s3cr3t-Pw"

# (id, --db value, fragments of the message)
DB_URL_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("mysql", f"mysql://rig:{SECRET}@db.lab/results", ("'mysql' is not supported", "mysql://rig:***@db.lab")),
    ("postgresql-psycopg", f"postgresql+psycopg://rig:{SECRET}@db/r", ("'postgresql+psycopg' is not supported",)),
    ("postgresql-psycopg2", "postgresql+psycopg2://db/r", ("'postgresql+psycopg2' is not supported",)),
    ("mariadb", "mariadb://db/r", ("'mariadb' is not supported",)),
    ("mssql", "mssql+pyodbc://db/r", ("'mssql+pyodbc' is not supported",)),
    ("oracle", "oracle://db/r", ("'oracle' is not supported",)),
    ("sqlite-driver", "sqlite+pysqlite:///results.sqlite", ("'sqlite+pysqlite' is not supported",)),
    ("http", "http://db.lab/results", ("'http' is not supported",)),
    ("https-password", f"https://u:{SECRET}@db.lab/x", ("'https' is not supported", "https://u:***@db.lab")),
    ("file-url", "file:///tmp/results.sqlite", ("'file' is not supported",)),
    ("redis", "redis://localhost:6379/0", ("'redis' is not supported",)),
    ("mongodb", "mongodb://localhost/results", ("'mongodb' is not supported",)),
    ("ftp", "ftp://anonymous@ftp.lab/results", ("'ftp' is not supported",)),
    ("empty", "", ("empty URL",)),
    ("blank", "   ", ("empty URL",)),
    ("escape-sequence", "\x1b[31mred.sqlite", ("control characters",)),
    ("newline", "results.sqlite\nDROP TABLE runs", ("control characters",)),
    ("missing-sqlite", "nowhere/results.sqlite", ("no results database at nowhere/results.sqlite",)),
    ("sqlite-url-missing", "sqlite:nowhere/results.sqlite", ("no results database at",)),
    ("pg-refused-password", f"postgresql://rig:{SECRET}@127.0.0.1:1/results", ("postgresql://rig:***@127.0.0.1:1",)),
    ("pg-bad-option", f"postgresql://rig:{SECRET}@127.0.0.1:1/r?sslmode=sometimes", ("postgresql://rig:***@",)),
    ("pg-password-param", f"postgresql://127.0.0.1:1/r?password={SECRET}", ("password=***",)),
]


@pytest.mark.parametrize(("url", "fragments"), [c[1:] for c in DB_URL_CASES], ids=[c[0] for c in DB_URL_CASES])
def test_bad_database_url(case_dir: Path, url: str, fragments: tuple[str, ...]) -> None:
    (case_dir / "report.json").write_text(dumps_record(make_record(1)), encoding="utf-8")
    for argv in (["history", "--db", url], ["report", "import", "report.json", "--db", url]):
        before = snapshot(case_dir)
        outcome = run_rig(argv, cwd=case_dir)
        if argv[0] == "report" and "no results database" in fragments[0]:
            continue  # an import creates a SQLite file where it is told to: that one is fine
        message = assert_refused(outcome, *fragments)
        assert SECRET not in outcome.err + outcome.out, message
        assert snapshot(case_dir) == before, f"rig {argv[0]} --db {url!r} wrote something"


def test_bad_database_url_in_the_environment(case_dir: Path) -> None:
    before = snapshot(case_dir)
    outcome = run_rig(["history"], cwd=case_dir, env={"RIG_RESULTS_DB": f"mysql://u:{SECRET}@h/db"})
    assert_refused(outcome, "'mysql' is not supported", "mysql://u:***@h/db")
    assert SECRET not in outcome.err and snapshot(case_dir) == before


# (id, --set value, fragments)
OVERRIDE_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("no-equals", "dut.endpoint", ("override 'dut.endpoint' must look like dotted.path=value",)),
    ("no-key", "=5", ("override '=5' must look like",)),
    ("bad-yaml", "dut.endpoint=[1", ("override 'dut.endpoint=[1': value is not valid YAML",)),
    ("config-path", "config_path=/etc/passwd", ("override 'config_path'", "set by the loader")),
    ("config-path-nested", "config_path.x=1", ("override 'config_path.x'", "set by the loader")),
    ("raw-digest", "raw_digest=0", ("override 'raw_digest'", "set by the loader")),
    ("empty-part", "dut..endpoint=1", ("override 'dut..endpoint': empty key",)),
    ("through-scalar", "dut.endpoint.x=1", ("override 'dut.endpoint.x': dut.endpoint is a int",)),
    ("unknown-key", "bogus=1", ("rig.yaml: bogus: unknown key", "set by override")),
    ("wrong-type", "dut.endpoint=abc", ("rig.yaml: dut.endpoint", "(set by override dut.endpoint='abc')")),
    ("inf-timeout", "dut.timeouts.event=.inf", ("rig.yaml: dut.timeouts.event", "finite")),
    ("huge-timeout", "dut.timeouts.event=1.0e308", ("rig.yaml: dut.timeouts.event",)),
    ("nan-tolerance", "report.energy_tolerance_pct=.nan", ("rig.yaml: report.energy_tolerance_pct",)),
    ("yaml-alias", "dut.endpoint=*a", ("override 'dut.endpoint=*a': value is not valid YAML",)),
    ("python-tag", "dut.endpoint=!!python/name:os.system", ("override", "not valid YAML")),
    ("station-traversal", "station.name=../../root", ("rig.yaml: station.name", "'../../root'")),
    ("unknown-defect", "virtual_evse.defects=[nope]", ("virtual_evse.defects[0]",)),
]


@pytest.mark.parametrize(("value", "fragments"), [c[1:] for c in OVERRIDE_CASES], ids=[c[0] for c in OVERRIDE_CASES])
def test_bad_override(case_dir: Path, value: str, fragments: tuple[str, ...]) -> None:
    for command in (["config", "check"], ["run"]):
        before = snapshot(case_dir)
        assert_refused(run_rig([*command, "--set", value], cwd=case_dir), *fragments)
        assert snapshot(case_dir) == before


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "fifo")
    return str(folder / "fifo")


def _loop(folder: Path) -> str:
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    return str(folder / "a")


def _folder(folder: Path) -> str:
    (folder / "out").mkdir()
    return str(folder / "out")


def _under_a_file(folder: Path) -> str:
    (folder / "plain").write_text("x")
    return str(folder / "plain" / "out.html")


def _record(folder: Path) -> str:
    (folder / "run").mkdir(exist_ok=True)
    (folder / "run" / "report.json").write_text(dumps_record(make_record(1)), encoding="utf-8")
    return str(folder / "run")


# (id, argv made in the case folder, fragments)
ARGV_CASES: list[tuple[str, Callable[[Path], list[str]], tuple[str, ...]]] = [
    ("render-o-folder", lambda f: ["report", "render", _record(f), "-o", _folder(f)], ("-o", "is a folder")),
    ("render-o-fifo", lambda f: ["report", "render", _record(f), "-o", _fifo(f)], ("-o", "not a regular file")),
    ("render-o-loop", lambda f: ["report", "render", _record(f), "-o", _loop(f)], ("-o", "loop of symbolic links")),
    ("render-o-under-file", lambda f: ["report", "render", _record(f), "-o", _under_a_file(f)], ("-o", "plain")),
    ("render-o-empty", lambda f: ["report", "render", _record(f), "-o", " "], ("-o", "not a file name")),
    ("render-junit-folder", lambda f: ["report", "render", _record(f), "--junit", _folder(f)], ("--junit", "folder")),
    ("render-missing-run", lambda f: ["report", "render", "no-such-run"], ("'no-such-run': no such run",)),
    ("derive-o-folder", lambda f: ["pics", "derive", "-o", _folder(f)], ("-o", "is a folder")),
    ("derive-o-fifo", lambda f: ["pics", "derive", "-o", _fifo(f)], ("-o", "not a regular file")),
    ("derive-o-under-file", lambda f: ["pics", "derive", "-o", _under_a_file(f)], ("-o",)),
    ("compare-threshold-nan", lambda f: ["compare", _record(f), _record(f), "--threshold", "nan"], ("nan",)),
    ("compare-threshold-negative", lambda f: ["compare", _record(f), _record(f), "--threshold", "-1"], ("-1",)),
    ("compare-threshold-text", lambda f: ["compare", "a", "b", "--threshold", "ten"], ("'ten'",)),
    ("compare-html-folder", lambda f: ["compare", _record(f), _record(f), "--html", _folder(f)], ("--html", "folder")),
    ("run-missing-suite", lambda f: ["run", str(f / "no_suite.py")], ("no_suite.py", "no such file")),
    ("run-suite-loop", lambda f: ["run", _loop(f)], ("loop of symbolic links",)),
    ("run-missing-pics", lambda f: ["run", "--pics", str(f / "evse.xml")], ("--pics", "evse.xml", "no such file")),
    ("run-pics-loop", lambda f: ["run", "--pics", _loop(f)], ("--pics", "loop of symbolic links")),
    ("run-pics-empty-name", lambda f: ["run", "--pics", ""], ("--pics", "not a path")),
    ("run-config-fifo", lambda f: ["run", "-c", _fifo(f)], ("fifo", "FIFO")),
    ("run-stimulus-unknown", lambda f: ["run", "--stimulus", "robot"], ("'robot'",)),
    ("run-unknown-defect", lambda f: ["run", "--dut-defect", "no-such-defect"], ("virtual_evse.defects[0]",)),
    (
        "run-db-unsupported",
        lambda f: ["run", "--set", f"report.database=mysql://u:{SECRET}@h/db"],
        ("'mysql' is not supported",),
    ),
    (
        "run-db-list-password",
        lambda f: ["run", "--set", f"report.database=[postgresql://u:{SECRET}@h/db]"],
        ("rig.yaml: report.database", "u:***@h"),
    ),
    (
        "run-db-bad-yaml-password",
        lambda f: ["run", "--set", f"report.database=[postgresql://u:{SECRET}@h/db"],
        ("not valid YAML", "u:***@h"),
    ),
    ("pics-check-missing", lambda f: ["pics", "check", str(f / "none.txt")], ("none.txt", "no such file")),
    ("config-check-missing", lambda f: ["config", "check", "-c", str(f / "none.yaml")], ("none.yaml", "not found")),
    ("history-typo-in-rig-yaml", lambda f: _typo(f, ["history"]), ("report.databse: unknown key",)),
    ("import-typo-in-rig-yaml", lambda f: _typo(f, ["report", "import", _record(f)]), ("report.databse",)),
]


def _typo(folder: Path, argv: list[str]) -> list[str]:
    rig_yaml = folder / "rig.yaml"
    rig_yaml.write_text(rig_yaml.read_text().replace("report:\n", "report:\n  databse: other.sqlite\n", 1))
    return argv


@pytest.mark.parametrize(("make", "fragments"), [c[1:] for c in ARGV_CASES], ids=[c[0] for c in ARGV_CASES])
def test_bad_command_line(case_dir: Path, make: Callable[[Path], list[str]], fragments: tuple[str, ...]) -> None:
    argv = make(case_dir)
    before = snapshot(case_dir)
    outcome = run_rig(argv, cwd=case_dir)
    assert_refused(outcome, *fragments)
    assert SECRET not in outcome.err
    assert snapshot(case_dir) == before, f"rig {' '.join(argv)} wrote something"
