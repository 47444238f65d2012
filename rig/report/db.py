"""The results database: every finished run imported from its record; history and comparisons query it.

SQLite by default (``reports/results.sqlite``); PostgreSQL by URL (``postgresql://user@host/db``) for a lab with
several benches. Both speak the same portable SQL (``?`` placeholders, rewritten for psycopg). An import is one
transaction: a bad record or a dropped connection leaves the database as it was.

Where the database is (first wins): ``--db URL`` on the command line, ``RIG_RESULTS_DB``, then
``<report.dir>/results.sqlite``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.errors import RigError
from rig.report.record import check_record

ENV_VAR = "RIG_RESULTS_DB"
DEFAULT_NAME = "results.sqlite"
DB_SCHEMA_VERSION = 1
_SCHEMA_LOCK_KEY = 0x72696764  # "rigd": the advisory lock key under which rigs create their tables on PostgreSQL

_TABLES = (
    """CREATE TABLE IF NOT EXISTS rig_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY, started DOUBLE PRECISION, ended DOUBLE PRECISION, status TEXT NOT NULL,
        exit_status INTEGER, station TEXT, bench TEXT, stimulus TEXT, build TEXT NOT NULL,
        sw_version BIGINT, sw_version_string TEXT, vendor_name TEXT, vendor_id BIGINT, product_name TEXT,
        product_id BIGINT, hw_version_string TEXT, serial TEXT, rig_version TEXT, git_sha TEXT, config_sha256 TEXT,
        record_path TEXT, imported_at DOUBLE PRECISION NOT NULL,
        n_passed INTEGER NOT NULL, n_failed INTEGER NOT NULL, n_error INTEGER NOT NULL, n_skipped INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cases (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, case_id TEXT NOT NULL, title TEXT,
        outcome TEXT NOT NULL, duration DOUBLE PRECISION, failed_step TEXT, error TEXT,
        PRIMARY KEY (run_id, case_id))""",
    """CREATE TABLE IF NOT EXISTS measurements (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, case_id TEXT NOT NULL, seq INTEGER NOT NULL,
        step TEXT, name TEXT NOT NULL, value DOUBLE PRECISION, text_value TEXT, unit TEXT,
        low DOUBLE PRECISION, high DOUBLE PRECISION, verdict TEXT, PRIMARY KEY (run_id, case_id, seq))""",
    """CREATE INDEX IF NOT EXISTS runs_build ON runs (build)""",
    """CREATE INDEX IF NOT EXISTS runs_sw ON runs (sw_version_string)""",
)


class ResultsDbError(RigError):
    """The results database cannot be opened, reached or read, or it lacks what was asked for."""


@dataclass(frozen=True)
class RunRow:
    """One imported run (a row of ``runs``)."""

    run_id: str
    started: float | None
    status: str
    build: str
    sw_version: int | None
    sw_version_string: str | None
    product_name: str | None
    serial: str | None
    station: str | None
    n_passed: int
    n_failed: int
    n_error: int
    n_skipped: int


_RUN_COLS = (
    "run_id, started, status, build, sw_version, sw_version_string, product_name, serial, station, "
    "n_passed, n_failed, n_error, n_skipped"
)


SCHEMES = ("postgresql", "postgres", "sqlite")
"""The URL schemes of a results database; anything else of the form ``scheme://`` is refused, never taken for a
SQLite file name."""
_URL_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?=//)")
_PASSWORD_PARAM = re.compile(r"(?i)(password=)([^&\s\"']*)")
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<password>[^/\s]*)@")


def check_url(url: str) -> str:
    """Return ``url`` if it names a results database this rig can open: ``postgresql://…``/``postgres://…``,
    ``sqlite:///path``/``sqlite:path`` or a file path.

    Raises:
        ResultsDbError: another scheme (``mysql://``, ``postgresql+psycopg://``), an empty value or a control
            character; the message names the value (password hidden) and the forms accepted.
    """
    forms = "postgresql://user@host/db, sqlite:///path/results.sqlite or a file path"
    if not url.strip():
        raise ResultsDbError(f"results database: an empty URL; use {forms}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ResultsDbError(f"results database {describe(url)!r}: control characters in the URL; use {forms}")
    match = _URL_SCHEME.match(url)
    if match is not None and match["scheme"].lower() not in SCHEMES:
        raise ResultsDbError(
            f"results database {describe(url)}: the scheme {match['scheme']!r} is not supported "
            f"(supported: {', '.join(SCHEMES)}); use {forms}"
        )
    return url


def resolve_url(cli_value: str | None, reports_dir: Path, configured: str | None = None) -> str:
    """Return the database URL: ``--db``, else ``RIG_RESULTS_DB``, else rig.yaml ``report.database``, else
    ``<reports_dir>/results.sqlite``.

    Raises:
        ResultsDbError: the URL has a scheme this rig does not support (see :func:`check_url`).
    """
    if cli_value is not None:  # `--db ""` is a bad URL, not no URL
        return check_url(cli_value)
    return check_url(os.environ.get(ENV_VAR) or configured or str(reports_dir / DEFAULT_NAME))


def describe(url: str) -> str:
    """Return ``url`` without its password (``user:***@host``, ``password=***``), for messages and logs."""
    return redact(url)


def redact(text: str) -> str:
    """Return ``text`` with every URL password in it replaced by ``***`` (a message quoting a URL, too)."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:***@", text)
    return _PASSWORD_PARAM.sub(lambda m: f"{m[1]}***", text)


class ResultsDb:
    """A connection to the results database.

    Args:
        url: ``postgresql://…`` / ``postgres://…``, ``sqlite:///path``, or a plain file path (SQLite).
        create: create the SQLite file and the tables when missing (imports); otherwise a missing SQLite file
            is an error (queries).
        timeout_s: bound on connecting to PostgreSQL.

    Raises:
        ResultsDbError: the URL's scheme is not supported, or the database cannot be opened or reached.
    """

    def __init__(self, url: str, *, create: bool = False, timeout_s: float = 5.0) -> None:
        self.url = check_url(url)
        self.is_pg = url.startswith(("postgresql://", "postgres://"))
        if self.is_pg:
            try:
                import psycopg
            except ImportError:
                raise ResultsDbError("PostgreSQL results database needs psycopg: install requirements.lock") from None
            try:
                self._conn: Any = psycopg.connect(url, connect_timeout=max(1, int(timeout_s)))
            except psycopg.Error as exc:
                first = redact(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
                raise ResultsDbError(
                    f"results database {describe(url)} unreachable: {first} (check the URL, "
                    f"that the server runs and accepts this user; set --db or {ENV_VAR})"
                ) from None
        else:
            path = Path(
                url[len("sqlite:///") - 1 :]
                if url.startswith("sqlite:///")
                else url[len("sqlite:") :]
                if url.startswith("sqlite:")
                else url
            )
            if path.exists() and not path.is_file():
                raise ResultsDbError(f"results database {path}: not a regular file (a folder, a FIFO or a device)")
            if not create and not path.is_file():
                raise ResultsDbError(
                    f"no results database at {path} (runs are imported when `rig run` ends; "
                    f"import one with `rig report import RUN`, or give --db URL / {ENV_VAR})"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(path, timeout=10)
                self._conn.execute("PRAGMA foreign_keys = ON")
            except (OSError, sqlite3.Error) as exc:
                raise ResultsDbError(f"cannot open the results database {path}: {exc}") from None
        try:
            self._ensure_schema(create)
        except ResultsDbError:
            self.close()
            raise

    # -- plumbing ------------------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_pg else sql

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())
        except Exception as exc:
            self._rollback()
            raise ResultsDbError(f"results database {describe(self.url)}: query failed: {redact(str(exc))}") from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one portable statement (``?`` placeholders) and commit; its rows (empty for a write). For tables
        other modules keep beside the results (the farm's leases, :mod:`rig.lab.lease`).

        Raises:
            ResultsDbError: the statement failed (rolled back).
        """
        try:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            rows = list(cur.fetchall()) if cur.description is not None else []
            self._conn.commit()
            return rows
        except Exception as exc:
            self._rollback()
            raise ResultsDbError(f"results database {describe(self.url)}: {redact(str(exc))}") from None

    def create_table(self, ddl: str) -> None:
        """Run ``CREATE TABLE IF NOT EXISTS``/``CREATE INDEX IF NOT EXISTS`` statements of another module's table
        (the farm's leases), serialised with every other rig's schema creation (see :meth:`_schema_lock`).

        Raises:
            ResultsDbError: the statement failed (rolled back).
        """
        try:
            self._schema_lock()
            self._conn.execute(ddl)
            self._conn.commit()
        except Exception as exc:
            self._rollback()
            raise ResultsDbError(f"results database {describe(self.url)}: {redact(str(exc))}") from None

    def _schema_lock(self) -> None:
        """On PostgreSQL, hold a transaction-scoped advisory lock until the next commit: two sessions creating the
        same table at once (farm runs starting together on a new database) otherwise fail on
        ``pg_type_typname_nsp_index``, as ``IF NOT EXISTS`` does not serialise them. SQLite's writes are serialised
        already."""
        if self.is_pg:
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):  # the connection may be gone; the error that led here is reported
            self._conn.rollback()

    def _ensure_schema(self, create: bool) -> None:
        try:
            if create:
                self._schema_lock()
                for stmt in _TABLES:
                    self._conn.execute(stmt)
                self._conn.execute(
                    self._sql(
                        "INSERT INTO rig_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING"
                    ),
                    (str(DB_SCHEMA_VERSION),),
                )
                self._conn.commit()
            row = self._conn.execute("SELECT value FROM rig_meta WHERE key = 'schema_version'").fetchone()
        except Exception as exc:
            self._rollback()
            raise ResultsDbError(f"{describe(self.url)} is not a rig results database ({redact(str(exc))})") from None
        if row is None or int(row[0]) > DB_SCHEMA_VERSION:
            raise ResultsDbError(f"{describe(self.url)}: results schema {row and row[0]} is not one this rig reads")

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(Exception):
            self._conn.close()

    def __enter__(self) -> ResultsDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- import ------------------------------------------------------------------------------------------------
    def import_record(self, record: dict[str, Any], record_path: str | None = None) -> None:
        """Import (or re-import) one run record in a single transaction.

        Raises:
            RecordError: the record is malformed (nothing is written).
            ResultsDbError: the database refused the import (nothing is written).
        """
        check_record(record, record_path or "record")
        run_id = record["run_id"]
        ident = (record.get("dut") or {}).get("identity") or {}
        cases = record["cases"]
        counts = {o: sum(1 for c in cases if c.get("outcome") == o) for o in ("passed", "failed", "error", "skipped")}
        run_row = (
            run_id,
            _num(record.get("started")),
            _num(record.get("ended")),
            record["status"],
            record.get("exit_status"),
            (record.get("station") or {}).get("name"),
            record.get("bench"),
            record.get("stimulus"),
            str(record.get("build") or "unknown"),
            _int(ident.get("SoftwareVersion")),
            _str(ident.get("SoftwareVersionString")),
            _str(ident.get("VendorName")),
            _int(ident.get("VendorID")),
            _str(ident.get("ProductName")),
            _int(ident.get("ProductID")),
            _str(ident.get("HardwareVersionString")),
            _str(ident.get("SerialNumber")),
            (record.get("rig") or {}).get("version"),
            (record.get("rig") or {}).get("git_sha"),
            (record.get("config") or {}).get("sha256"),
            record_path,
            time.time(),
            counts["passed"],
            counts["failed"],
            counts["error"],
            counts["skipped"],
        )
        case_rows = []
        meas_rows = []
        seen: set[str] = set()
        for c in cases:
            cid = c["id"]
            if cid in seen:  # a case id appearing twice (parametrised): keep the first, as the DB key is the id
                continue
            seen.add(cid)
            case_rows.append(
                (
                    run_id,
                    cid,
                    _str(c.get("title")),
                    c["outcome"],
                    _num(c.get("duration")),
                    _str(c.get("failed_step")),
                    _str(c.get("error")),
                )
            )
            seq = 0
            for s in c.get("steps") or []:
                for m in s.get("measurements") or []:
                    value = m.get("value")
                    num = _num(value) if not isinstance(value, bool) else None
                    meas_rows.append(
                        (
                            run_id,
                            cid,
                            seq,
                            _str(s.get("number")),
                            str(m.get("name")),
                            num,
                            None if num is not None else _str(value),
                            _str(m.get("unit")),
                            _num(m.get("low")),
                            _num(m.get("high")),
                            _str(m.get("verdict")),
                        )
                    )
                    seq += 1
        try:
            with self._transaction() as cur:
                for table in ("measurements", "cases", "runs"):
                    cur.execute(self._sql(f"DELETE FROM {table} WHERE run_id = ?"), (run_id,))
                cur.execute(self._sql(f"INSERT INTO runs VALUES ({', '.join('?' * len(run_row))})"), run_row)
                if case_rows:
                    cur.executemany(self._sql("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?)"), case_rows)
                if meas_rows:
                    cur.executemany(
                        self._sql("INSERT INTO measurements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), meas_rows
                    )
        except ResultsDbError:
            raise
        except Exception as exc:
            raise ResultsDbError(
                f"results database {describe(self.url)}: import of {run_id} failed, nothing was written: "
                f"{redact(str(exc))}"
            ) from None

    def _transaction(self) -> Any:
        db = self

        class _Tx:
            def __enter__(self) -> Any:
                self.cur = db._conn.cursor()
                return self.cur

            def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
                if exc_type is None:
                    db._conn.commit()
                else:
                    db._rollback()

        return _Tx()

    # -- queries -------------------------------------------------------------------------------------------
    def runs(self, dut: str | None = None) -> list[RunRow]:
        """Return the imported runs ordered by software version then start time; ``dut`` filters by a substring
        of vendor, product, serial number or build (case-insensitive)."""
        sql = f"SELECT {_RUN_COLS} FROM runs"
        params: list[Any] = []
        if dut:
            # `%` and `_` in the text are matched literally, not as wildcards
            escaped = dut.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            sql += (
                " WHERE LOWER(COALESCE(vendor_name, '')) LIKE ? ESCAPE '\\'"
                " OR LOWER(COALESCE(product_name, '')) LIKE ? ESCAPE '\\'"
                " OR LOWER(COALESCE(serial, '')) LIKE ? ESCAPE '\\' OR LOWER(build) LIKE ? ESCAPE '\\'"
            )
            params = [like] * 4
        sql += " ORDER BY sw_version, sw_version_string, build, started, run_id"
        return [RunRow(*row) for row in self._query(sql, params)]

    def find(self, key: str) -> list[RunRow]:
        """Return the runs ``key`` names: a run id, else a build, else a software version (string or number)."""
        rows = self._query(f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", (key,))
        if not rows:
            rows = self._query(f"SELECT {_RUN_COLS} FROM runs WHERE build = ? ORDER BY started, run_id", (key,))
        if not rows:
            rows = self._query(
                f"SELECT {_RUN_COLS} FROM runs WHERE sw_version_string = ? OR "
                "CAST(sw_version AS TEXT) = ? ORDER BY started, run_id",
                (key, key),
            )
        return [RunRow(*row) for row in rows]

    def cases(self, run_id: str) -> dict[str, tuple[str, str | None, str | None]]:
        """Return ``case id → (outcome, title, failed step)`` of a run."""
        rows = self._query("SELECT case_id, outcome, title, failed_step FROM cases WHERE run_id = ?", (run_id,))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def measurements(self, run_id: str) -> Iterable[tuple[str, str | None, str, float | None, str | None]]:
        """Return ``(case id, step, name, value, unit)`` rows of a run, in recorded order."""
        return self._query(
            "SELECT case_id, step, name, value, unit FROM measurements WHERE run_id = ? ORDER BY case_id, seq",
            (run_id,),
        )

    def outcomes_by_build(self, build: str) -> dict[str, set[str]]:
        """Return ``case id → outcomes seen`` (passed/failed/error) over every run of ``build``."""
        rows = self._query(
            "SELECT DISTINCT c.case_id, c.outcome FROM cases c JOIN runs r ON r.run_id = c.run_id "
            "WHERE r.build = ? AND c.outcome IN ('passed', 'failed', 'error')",
            (build,),
        )
        out: dict[str, set[str]] = {}
        for cid, outcome in rows:
            out.setdefault(cid, set()).add(outcome)
        return out


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _str(v: Any) -> str | None:
    return None if v is None else str(v)
