"""The outer half of a benchmark that measures inside a run's sandbox: start the script again in the sandbox, as
`rig run` starts its pytest (:func:`rig.session.run_in_sandbox`), and read the figures it wrote."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def figures_from_sandbox(
    script: str,
    args: Sequence[str],
    result: Path,
    *,
    config: Path = ROOT / "rig.yaml",
    overrides: Sequence[str] = (),
    what: str = "the session in the sandbox",
) -> Any:
    """Run ``python SCRIPT ARGS [--set O ...]`` in the sandbox of rig.yaml ``config`` (with ``overrides``), with
    ``result``'s folder visible inside; return the JSON the script wrote to ``result``.

    Raises:
        SystemExit: the process inside failed or wrote nothing (its output is above).
    """
    from rig.config import load_config, parse_override
    from rig.session import run_in_sandbox

    cfg = load_config(config, overrides=dict(parse_override(o) for o in overrides))
    argv = [sys.executable, str(Path(script).resolve()), *args]
    for o in overrides:
        argv += ["--set", o]
    code = run_in_sandbox(cfg, argv, visible=(result.parent,))
    if code != 0 or not result.is_file():
        raise SystemExit(f"{what} failed (exit {code}); see its output above")
    return json.loads(result.read_text(encoding="utf-8"))
