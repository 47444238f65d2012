"""Run the full default run N times (default 20) and print the failures and the run times.

    sudo .venv/bin/python benchmarks/repeat_runs.py [N] [-- extra rig run arguments, e.g. --stimulus trigger]

Each run is a complete `rig run` (virtual EVSE started, commissioned, every case of the default suites), one at a
time; a run counts as failed when its exit code is not 0, and the failing cases and steps are listed from its
run record (report.json). Exit code 1 if any run failed.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(reports: Path, extra: list[str]) -> tuple[int, float, list[str]]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "rig.cli", "run", "--set", f"report.dir={reports}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.monotonic() - t0
    failures: list[str] = []
    latest = reports / "latest"
    if proc.returncode != 0:
        try:
            cases = json.loads((latest / "report.json").read_text())["cases"]
            failures = [
                f"{c['id']} step {c.get('failed_step')}: {str(c.get('error') or '')[:160]}"
                for c in cases
                if c.get("outcome") in ("failed", "error")
            ]
        except (OSError, ValueError):
            failures = [proc.stdout[-400:] + proc.stderr[-400:]]
    return proc.returncode, took, failures


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = argv[: argv.index("--")] if "--" in argv else argv
    n = int(args[0]) if args else 20
    times: list[float] = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="rig-repeat-") as tmp:
        for i in range(1, n + 1):
            code, took, failures = one_run(Path(tmp), extra)
            times.append(took)
            verdict = "PASSED" if code == 0 else f"FAILED (exit {code})"
            print(f"run {i:2d}/{n}: {verdict} in {took:.1f} s", flush=True)
            if code != 0:
                failed += 1
                for line in failures:
                    print(f"    {line}", flush=True)
    print(
        f"\n{n} runs{' with ' + ' '.join(extra) if extra else ''}: {failed} failed, {n - failed} passed; "
        f"run time min {min(times):.1f} s, median {statistics.median(times):.1f} s, max {max(times):.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
