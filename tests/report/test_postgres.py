"""The results database on a real PostgreSQL server, started by the test on a temporary folder and loopback."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from rig.lab.lease import Lease, LeaseStore
from rig.report.compare import compare, side_from_db
from rig.report.db import ResultsDb
from rig.report.synthetic import make_record
from tests.pgserver import PgUnavailable, private_postgres
from tests.report.conftest import rig


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server of our own (trust auth, a Unix socket in a private folder, no TCP), stopped and removed
    afterwards."""
    with contextlib.ExitStack() as stack:
        try:
            pg = stack.enter_context(private_postgres())
        except PgUnavailable as exc:
            pytest.skip(str(exc))
        yield pg.url()


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


def test_leases_on_postgresql_made_by_runs_starting_together(pg_url: str) -> None:
    """Farm runs starting at once on a new database each create the tables; PostgreSQL's ``IF NOT EXISTS`` alone
    does not serialise that (a duplicate key on pg_type): none of them may fail."""
    import psycopg

    url = pg_url.replace("/postgres?", "/leases_race?")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE leases_race")
    stores: list[LeaseStore] = []
    errors: list[BaseException] = []
    go = threading.Barrier(6)

    def start() -> None:
        go.wait()
        try:
            stores.append(LeaseStore(url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert not errors, errors
        store = stores[0]
        now = time.time()
        store.open(Lease("r1", "bench-a", "h/rig-r1", "tok", "h", 4242, 10.0, now, now))
        store.beat("r1", now + 5)
        got = store.get("r1")
        assert got is not None and got.heartbeat == now + 5 and got.ended is None
        assert [lease.run_id for lease in stores[-1].active()] == ["r1"]
        store.end("r1", "released", now + 6)
        assert store.active() == [] and (store.get("r1") or got).outcome == "released"
    finally:
        for s in stores:
            s.close()
