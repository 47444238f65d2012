"""Processes the ``rig`` commands start inside a run's sandbox (never imported by :mod:`rig.cli` itself).

    python -m rig.cli.inner pics-probe --config FILE --out FILE [--set KEY=VALUE]...

``pics-probe`` opens the session of rig.yaml (:func:`rig.session.open_session`) and writes the DUT's Energy EVSE
elements as JSON, for ``rig pics derive|check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rig.cli import common
from rig.config import RigConfig


async def _probe(config: RigConfig, out: Path) -> None:
    """Inside the sandbox: open the session, read the elements, write them as JSON."""
    from rig.matter.elements import read_dut_elements
    from rig.session import open_session

    async with open_session(config) as session:
        elements = await read_dut_elements(session.node)
    out.write_text(json.dumps(elements.to_dict()), encoding="utf-8")


def _probe_main(argv: list[str]) -> int:
    """``pics-probe --config FILE --out FILE [--set KEY=VALUE]...`` (run by :func:`rig.cli.pics.probe_dut`)."""
    import asyncio
    import logging

    from rig.config import load_config
    from rig.errors import RigError

    p = argparse.ArgumentParser(prog="python -m rig.cli.inner pics-probe")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, overrides=common.overrides(args.overrides))
        asyncio.run(_probe(cfg, Path(args.out)))
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def main(argv: list[str]) -> int:
    """Dispatch on the first argument (the inner command)."""
    if argv[:1] == ["pics-probe"]:
        return _probe_main(argv[1:])
    print(f"rig.cli.inner: unknown inner command {argv[:1]}; known: pics-probe", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
