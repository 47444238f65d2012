"""The results database on a real PostgreSQL server, started by the test on a temporary folder and loopback."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.report.compare import compare, side_from_db
from rig.report.db import ResultsDb
from rig.report.synthetic import make_record
from tests.report.conftest import rig


def _pg_bin() -> Path | None:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found and shutil.which("pg_ctl") else None


SOCKET_PORT = 5432
"""With a Unix socket only, the port just names the socket file in the test's own folder: nothing to collide with."""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server of our own (trust auth, a Unix socket in a private folder, no TCP), stopped and removed
    afterwards."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (requirements.lock)")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not installed: `apt-get install postgresql` "
            "(scripts/setup.sh does)"
        )
    base = Path(tempfile.mkdtemp(prefix="rig-pg-"))  # in /tmp: reachable by the postgres user
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        for p in (base, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    log = base / "log"
    try:
        _pg(prefix, bindir / "initdb", "-D", data, "-U", "rig", "--auth=trust", "--no-sync", "-E", "UTF8")
        opts = f"-p {SOCKET_PORT} -k {sock} -c listen_addresses='' -c fsync=off"
        _pg(prefix, bindir / "pg_ctl", "-D", data, "-o", opts, "-w", "-t", "60", "-l", log, "start", log=log)
        yield f"postgresql://rig@/postgres?host={sock}&port={SOCKET_PORT}"
    finally:
        if (data / "postmaster.pid").exists():
            _pg(prefix, bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


def _pg(prefix: list[str], *args: object, log: Path | None = None, check: bool = True) -> None:
    proc = subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        pytest.fail(f"{args[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{server_log}")


def test_import_history_compare_on_postgresql(pg_url: str) -> None:
    a = make_record(5, run_id="pg-a", build="2.0.0", sw_version=20)
    b = make_record(5, run_id="pg-b", build="2.1.0", sw_version=21, fail=frozenset({1}))
    with ResultsDb(pg_url, create=True) as db:
        db.import_record(a)
        db.import_record(b)
        db.import_record(b)  # re-import replaces
        assert [r.run_id for r in db.runs()] == ["pg-a", "pg-b"]
        c = compare(side_from_db(db, "2.0.0"), side_from_db(db, "pg-b"), 10.0, db)
    assert c.newly_failing == ["TC-GEN-00001"]
    proc = rig("compare", "pg-a", "2.1.0", "--db", pg_url)
    assert proc.returncode == 1 and "REGRESSION: TC-GEN-00001" in proc.stdout, proc.stderr
    hist = rig("history", "--db", pg_url, "--dut", "gen evse")
    assert hist.returncode == 0 and "pg-a" in hist.stdout and "pg-b" in hist.stdout


def test_failed_import_on_postgresql_rolls_back(pg_url: str) -> None:
    with ResultsDb(pg_url, create=True) as db:
        db.import_record(make_record(3, run_id="pg-keep"))
        broken = make_record(3, run_id="pg-keep")
        broken["cases"][2]["id"] = broken["cases"][1]["id"]  # duplicate ids are dropped, not an error
        broken["cases"][0]["title"] = "x\x00y"  # NUL: PostgreSQL refuses it mid-transaction
        with pytest.raises(Exception, match="nothing was written"):
            db.import_record(broken)
        assert len(db.cases("pg-keep")) == 3, "the earlier import of the run is intact"
