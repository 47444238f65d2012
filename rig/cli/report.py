"""The report commands of ``rig``: ``report render|import``, ``history``, ``compare``; and the end of ``rig run``.

    rig report render RUN [-o OUT] [--junit [PATH]]      rebuild report.html and junit.xml from report.json
    rig report import RUN [--db URL]                     import a run into the results database
    rig history [--dut TEXT] [--db URL]                  runs by DUT software version
    rig compare A B [--threshold PCT] [--html OUT] [--db URL]   regressions between two runs or builds

RUN is a run id (a folder under ``report.dir``), ``latest``, a run folder or a ``report.json`` path. Exit codes:
0 fine, 1 ``compare`` found a regression, 2 bad input (a clear message on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from rig.cli.common import output_path
from rig.errors import ConfigError
from rig.report.record import RECORD_NAME, RecordError, dumps_record, load_record, utc_iso, write_atomic

COMMANDS = ("report", "history", "compare")


def add_subcommands(sub: Any) -> None:
    """Add the report commands to the ``rig`` sub-parser collection ``sub``."""
    rep = sub.add_parser("report", help="run records: rebuild the HTML/JUnit, import into the results database")
    rep_sub = rep.add_subparsers(dest="report_action", required=True, metavar="ACTION")
    render = rep_sub.add_parser(
        "render", help="rebuild report.html and junit.xml from report.json (the same bytes as the run wrote)"
    )
    render.add_argument("run", help="run id, 'latest', run folder or report.json")
    render.add_argument(
        "-o", "--output", default=None, help="write the HTML here instead (then JUnit only with --junit)"
    )
    render.add_argument(
        "--junit",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="write JUnit XML (default path: RUN/junit.xml; written by default unless -o is given)",
    )
    imp = rep_sub.add_parser("import", help="import a run into the results database")
    imp.add_argument("run", help="run id, 'latest', run folder or report.json")
    for p in (render, imp):
        p.add_argument("--config", "-c", default=None, help="rig.yaml (for report.dir; default ./rig.yaml)")
    imp.add_argument(
        "--db",
        default=None,
        help="database URL or SQLite path (default: $RIG_RESULTS_DB, else <report.dir>/results.sqlite)",
    )

    hist = sub.add_parser("history", help="runs in the results database by DUT software version")
    hist.add_argument(
        "--dut", default=None, metavar="TEXT", help="only DUTs whose vendor, product, serial or build contains TEXT"
    )
    cmp_ = sub.add_parser("compare", help="compare two runs or builds; exit 1 on a regression")
    cmp_.add_argument("a", help="before: run id, run folder, report.json, build or software version")
    cmp_.add_argument("b", help="after: same forms as A")
    cmp_.add_argument(
        "--threshold",
        type=float,
        default=10.0,
        metavar="PCT",
        help="report measurements that moved by more than PCT percent (default 10)",
    )
    cmp_.add_argument("--html", default=None, metavar="OUT", help="also write a comparison page")
    for p in (hist, cmp_):
        p.add_argument(
            "--db",
            default=None,
            help="database URL or SQLite path (default: $RIG_RESULTS_DB, else <report.dir>/results.sqlite)",
        )
        p.add_argument("--config", "-c", default=None, help="rig.yaml (for report.dir; default ./rig.yaml)")


def dispatch(args: argparse.Namespace) -> int | None:
    """Run a report command; None when ``args.command`` is not one of them."""
    if args.command == "report":
        return cmd_render(args) if args.report_action == "render" else cmd_import(args)
    if args.command == "history":
        return cmd_history(args)
    if args.command == "compare":
        return cmd_compare(args)
    return None


# -- helpers --------------------------------------------------------------------------------------------------
def reports_dir(config: str | None) -> Path:
    """Return ``report.dir`` of rig.yaml (``./reports`` when there is no rig.yaml and none was named)."""
    from rig.config import load_config

    if config is None and not Path("rig.yaml").is_file():
        return Path.cwd() / "reports"
    try:
        cfg = load_config(config)
    except ConfigError:
        if config is not None:
            raise
        return Path.cwd() / "reports"
    return cfg.report.folder()


def record_path(run: str, config: str | None) -> Path:
    """Return the record file RUN names (a path, a run folder, or a run id under report.dir).

    Raises:
        RecordError: nothing of that name.
    """
    p = Path(run)
    if p.is_file() or (os.path.lexists(p) and not p.is_dir()):  # a FIFO, a device, a link loop: load_record says so
        return p
    if p.is_dir():
        return p / RECORD_NAME
    candidate = reports_dir(config) / run / RECORD_NAME
    if candidate.parent.is_dir():
        return candidate
    raise RecordError(f"{run!r}: no such run (not a file, not a run folder, and no {candidate.parent})")


def _db_url(args: argparse.Namespace) -> str:
    from rig.report.db import ENV_VAR, resolve_url

    config = getattr(args, "config", None)
    given = getattr(args, "db", None)
    if given is not None or os.environ.get(ENV_VAR):  # rig.yaml's report section does not matter then
        return resolve_url(given, Path.cwd() / "reports")
    return resolve_url(None, reports_dir(config), _configured_db(config))


def _configured_db(config: str | None) -> str | None:
    """rig.yaml ``report.database``, if a rig.yaml is there and sets it.

    Raises:
        ConfigError: the rig.yaml there is invalid (a typo in it must not send the results to another database).
    """
    from rig.config import load_config

    if config is None and not Path("rig.yaml").is_file():
        return None
    try:
        return load_config(config).report.database
    except ConfigError as exc:
        raise ConfigError(
            f"{exc} (rig.yaml names the results database: fix it, or give --db URL or RIG_RESULTS_DB)"
        ) from None


# -- commands ---------------------------------------------------------------------------------------------------
def cmd_render(args: argparse.Namespace) -> int:
    """Rebuild the run's outputs from its record: ``report.html`` and ``junit.xml`` (``-o``/``--junit`` elsewhere)."""
    from rig.report.outputs import HTML_NAME, JUNIT_NAME, renderers

    html = output_path(args.output, "-o") if args.output else None
    junit = output_path(args.junit, "--junit") if args.junit else None
    path = record_path(args.run, args.config)
    record = load_record(path)
    made = renderers()
    t0 = time.perf_counter()
    html = html or path.parent / HTML_NAME
    write_atomic(html, made[HTML_NAME](record))
    print(f"rig: wrote {html} ({len(record['cases'])} cases, {time.perf_counter() - t0:.2f} s)")
    if args.junit is not None or args.output is None:
        junit = junit or path.parent / JUNIT_NAME
        write_atomic(junit, made[JUNIT_NAME](record))
        print(f"rig: wrote {junit}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import one run record into the results database."""
    from rig.report.db import ResultsDb, describe
    from rig.report.text import terminal_safe

    path = record_path(args.run, args.config)
    record = load_record(path)
    url = _db_url(args)
    with ResultsDb(url, create=True) as db:
        db.import_record(record, str(path.resolve()))
    print(f"rig: imported run {terminal_safe(record['run_id'])} ({len(record['cases'])} cases) into {describe(url)}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """List the imported runs by DUT software version."""
    from rig.report.db import ResultsDb
    from rig.report.text import terminal_safe

    with ResultsDb(_db_url(args)) as db:
        runs = db.runs(args.dut)
    if not runs:
        print("rig: no runs" + (f" for a DUT matching {args.dut!r}" if args.dut else "") + " in the database")
        return 0
    head = (
        "software",
        "build",
        "run",
        "started",
        "status",
        "pass",
        "fail",
        "err",
        "skip",
        "product",
        "serial",
        "station",
    )
    raw = [
        (
            f"{r.sw_version_string or '?'} ({r.sw_version if r.sw_version is not None else '?'})",
            r.build,
            r.run_id,
            utc_iso(r.started) or "?",
            r.status,
            str(r.n_passed),
            str(r.n_failed),
            str(r.n_error),
            str(r.n_skipped),
            r.product_name or "?",
            r.serial or "?",
            r.station or "?",
        )
        for r in runs
    ]
    rows = [tuple(terminal_safe(v) for v in row) for row in raw]  # DUT and record strings: no escape sequences
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    for row in (head, *rows):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two runs or builds; 1 on a regression."""
    from rig.report.compare import compare, format_html, format_text, side_from_db, side_from_record
    from rig.report.db import ResultsDb, ResultsDbError

    if not args.threshold >= 0:
        raise ConfigError(f"--threshold must be a percentage >= 0, got {args.threshold}")
    html_out = output_path(args.html, "--html") if args.html else None
    url = _db_url(args)
    db: ResultsDb | None = None
    try:
        try:
            db = ResultsDb(url)
        except ResultsDbError:
            if args.db or not all(Path(x).exists() for x in (args.a, args.b)):
                raise  # a database was named, or a side needs it
        sides = []
        for key in (args.a, args.b):
            if Path(key).exists():
                sides.append(side_from_record(load_record(key), key))
            elif db is not None and db.find(key):
                sides.append(side_from_db(db, key))
            else:
                try:
                    sides.append(side_from_record(load_record(record_path(key, args.config)), key))
                except RecordError:
                    raise RecordError(
                        f"{key!r}: no run id, build or software version of that name in the results "
                        f"database, and no run folder of that name (see `rig history`)"
                    ) from None
        result = compare(sides[0], sides[1], args.threshold, db)
    finally:
        if db is not None:
            db.close()
    sys.stdout.write(format_text(result))
    if args.html:
        write_atomic(html_out or Path(args.html), format_html(result))
        print(f"rig: wrote {args.html}")
    return 1 if result.regression else 0


# -- the end of `rig run` ------------------------------------------------------------------------------------------
def after_run(run_dir: Path, exit_code: int, database: str | None = None) -> None:
    """Close up a run folder after pytest ended (called by ``rig run``, outside the sandbox).

    A record left ``running`` (pytest killed) is closed as ``interrupted`` and its ``report.html`` and ``junit.xml``
    are rendered from it; so are they when missing (the plugin writes both at session end otherwise). The run is
    imported into the results database (``$RIG_RESULTS_DB``, else rig.yaml ``report.database``, else
    ``results.sqlite`` beside the run folders). Problems are warnings: the run's verdict stands.
    """
    from rig.errors import RigError
    from rig.report.db import ResultsDb, resolve_url
    from rig.report.outputs import HTML_NAME, JUNIT_NAME, write_outputs

    path = run_dir / RECORD_NAME
    try:
        record = load_record(path)
        if record["status"] == "running":
            record.update(status="interrupted", exit_status=exit_code, ended=time.time())
            write_atomic(path, dumps_record(record))
            write_outputs(run_dir)  # from the file just written: the bytes `rig report render` gives
        else:
            missing = tuple(n for n in (HTML_NAME, JUNIT_NAME) if not (run_dir / n).is_file())
            if missing:
                write_outputs(run_dir, record, missing)
        url = resolve_url(None, run_dir.parent, database)
        with ResultsDb(url, create=True) as db:
            db.import_record(record, str(path.resolve()))
    except RigError as exc:
        print(f"rig: warning: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"rig: warning: could not finish the run record: {exc}", file=sys.stderr)
