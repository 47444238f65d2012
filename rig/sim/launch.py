"""Starting the virtual bench (plant + instrument servers) as a child process, and stopping it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rig import PROJECT_ROOT
from rig.config import RigConfig
from rig.config.bench import virtual_bench_spec
from rig.errors import ConfigError, SetupError

# ----------------------------------------------------------------------------------------- virtual bench
VIRTUAL_BENCH_START_S = 20.0


@contextlib.contextmanager
def virtual_bench(
    config: RigConfig,
    *,
    workdir: Path | None = None,
    evse_port: Path | None = None,
    start_timeout_s: float = VIRTUAL_BENCH_START_S,
) -> Iterator[dict[str, Any]]:
    """Run ``python -m rig.sim.virtual_bench`` serving rig.yaml's roles; yield its ready line; stop it after.

    Args:
        config: a rig.yaml describing the virtual bench (``dut.kind: virtual``).
        workdir: folder for the spec and plant log (default: a temporary folder, removed after).
        evse_port: the virtual EVSE's hardware-port socket, if one runs.
        start_timeout_s: how long to wait for the ready line, s.

    Raises:
        ConfigError: a role the virtual bench cannot serve.
        SetupError: the virtual bench did not start (its stderr is quoted).
    """
    try:
        spec = virtual_bench_spec(config.instruments, config.ev_emulator)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rig-vbench-")))
        spec_path = folder / "virtual-bench.json"
        spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
        stderr_path = folder / "virtual-bench.log"
        argv = [
            sys.executable,
            "-m",
            "rig.sim.virtual_bench",
            "--spec",
            str(spec_path),
            "--plant-log",
            str(folder / "plant.jsonl"),
        ]
        if evse_port is not None:
            argv += ["--evse-port", str(evse_port)]
        root = str(PROJECT_ROOT)
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
        try:
            ready = _read_ready(proc, start_timeout_s, stderr_path)
            yield ready
        finally:
            _stop(proc)


def _read_ready(proc: subprocess.Popen[bytes], timeout_s: float, stderr_path: Path) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    os.set_blocking(proc.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read() or b""
        buffer += chunk
        for line in buffer.splitlines():
            with contextlib.suppress(ValueError):
                info = json.loads(line)
                if isinstance(info, dict) and info.get("event") == "ready":
                    return info
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = stderr_path.read_text(encoding="utf-8", errors="replace").strip()[-800:]
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready within {timeout_s:g} s"
    raise SetupError(f"virtual bench {state}; its log says: {tail or '(nothing)'}")


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
    if proc.stdout is not None:
        proc.stdout.close()
