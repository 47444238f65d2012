"""Report speed figures on generated records: render a 10,000-case record (< 5 s), compare two (< 1 s).

    .venv/bin/python benchmarks/bench_report.py [--cases 10000]

Prints the record size, the time to write it canonically, load it, render the HTML (and, for information, how much of
that its matplotlib charts take: one per 100th case), write JUnit, import it into
SQLite, and compare two such runs from the database (what `rig compare RUN_A RUN_B` does: runs are imported when
they finish) and, for information, from their two record files (dominated by parsing 2 x ~30 MB of JSON).
Exits 1 when a target is missed: load + render < 5 s, compare from the database < 1 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.report.compare import compare, format_text, side_from_db, side_from_record
from rig.report.db import ResultsDb
from rig.report.html import case_charts, render_report
from rig.report.junit import render_junit
from rig.report.record import dumps_record, load_record, write_atomic
from rig.report.synthetic import make_record

RENDER_TARGET_S = 5.0
COMPARE_TARGET_S = 1.0


def _timed(label: str, fn, *args, repeat: int = 1, **kw):  # type: ignore[no-untyped-def]
    """Run ``fn`` ``repeat`` times; print and return (result, median seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        times.append(time.perf_counter() - t0)
    dt = sorted(times)[len(times) // 2]
    print(f"  {label:<50} {dt:7.3f} s" + (f" (median of {repeat})" if repeat > 1 else ""))
    return out, dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    args = ap.parse_args()
    n = args.cases
    a = make_record(n, run_id="bench-a", build="1.0.0", sw_version=1, seed=1)
    b = make_record(
        n, run_id="bench-b", build="1.1.0", sw_version=2, seed=2, fail=frozenset(range(0, n, 97)), drift=0.0005
    )
    print(f"report benchmark: {n} cases per record")
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = Path(tmp) / "a.json", Path(tmp) / "b.json"
        _timed("write record (canonical, atomic)", lambda: write_atomic(pa, dumps_record(a)))
        write_atomic(pb, dumps_record(b))
        print(f"  record size {pa.stat().st_size / 1e6:.1f} MB")
        rec_a, t_load = _timed("load + check record", load_record, pa, repeat=3)
        rec_b = load_record(pb)
        html, t_render = _timed("render HTML", render_report, rec_a, repeat=3)
        print(f"  HTML size {len(html.encode()) / 1e6:.1f} MB")
        made, _ = _timed("  of which: the charts", lambda: [case_charts(c, i) for i, c in enumerate(rec_a["cases"])])
        print(f"  {sum(len(m) for m in made)} charts (matplotlib SVG) in {sum(1 for m in made if m)} cases")
        _timed("render JUnit", render_junit, rec_a)
        db_path = Path(tmp) / "results.sqlite"
        with ResultsDb(str(db_path), create=True) as db:
            _timed("import record into SQLite", db.import_record, rec_a, str(pa))
            db.import_record(rec_b, str(pb))

        def from_records() -> object:
            return compare(side_from_record(load_record(pa), "a"), side_from_record(load_record(pb), "b"), 1.0)

        def from_db() -> object:
            with ResultsDb(str(db_path)) as db:
                return compare(side_from_db(db, "bench-a"), side_from_db(db, "bench-b"), 1.0, db)

        res_db, t_cmp_db = _timed("compare two runs from the SQLite database", from_db, repeat=3)
        _, t_cmp_rec = _timed("compare two runs from record files (incl. parse)", from_records)
        print("  " + format_text(res_db).strip().splitlines()[-1][:100])  # type: ignore[arg-type]
    ok = t_load + t_render < RENDER_TARGET_S and t_cmp_db < COMPARE_TARGET_S
    print(
        f"report benchmark: load+render {t_load + t_render:.2f} s (< {RENDER_TARGET_S:g}), compare {t_cmp_db:.2f} s "
        f"(< {COMPARE_TARGET_S:g}, database; {t_cmp_rec:.2f} s from record files): "
        + ("targets met" if ok else "TARGET MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
