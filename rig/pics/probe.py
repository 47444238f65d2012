"""Internal test module of ``rig pics derive|check``: read the live DUT's Energy EVSE elements, write them as JSON.

Run by ``rig.cli.pics.probe_dut`` inside the run sandbox (``pytest rig/pics_probe.py --pics-probe-out FILE``), so
it gets the DUT exactly as a suite run does: the virtual EVSE and bench started, the DUT commissioned or
connected, through the ``dut_node`` fixture. Without ``--pics-probe-out`` it skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rig.pytest_plugin.pics import read_dut_elements


async def test_read_energy_evse_elements(dut_node: Any, pytestconfig: pytest.Config) -> None:
    """Read FeatureMap, AttributeList, AcceptedCommandList, GeneratedCommandList and EventList; write the JSON."""
    out = pytestconfig.getoption("--pics-probe-out")
    if not out:
        pytest.skip("internal module of `rig pics derive|check` (needs --pics-probe-out)")
    elements = await read_dut_elements(dut_node)
    Path(out).write_text(json.dumps(elements.to_dict()), encoding="utf-8")
