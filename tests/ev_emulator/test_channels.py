"""The EV emulator's channel names are defined once (rig/ev_emulator/channels.py) and imported everywhere else."""

from __future__ import annotations

import ast
from pathlib import Path

from rig.config import bench as config_bench
from rig.ev_emulator import channels, emulator
from rig.sim import can_board, plant
from rig.stimulus import emulator as emulator_stimulus

ROOT = Path(__file__).resolve().parents[2]

# The channels whose names are nothing but channel names (the fault and RCD channels share their names with
# EVB_Command signals of the CAN contract, rig/instruments/ev_board.dbc, which the CAN code quotes as signal names).
CHANNEL_ONLY = {"cp_connect", "s2_c", "s2_d", "cp_pe_short", "pp_100", "pp_220", "pp_680", "pp_1500"}


def test_channel_names_and_order() -> None:
    assert channels.EV_CHANNELS == (
        "cp_connect", "s2_c", "s2_d", "diode_bypass", "cp_pe_short", "pe_break", "rcd_ac_30ma", "rcd_dc_6ma",
        "pp_100", "pp_220", "pp_680", "pp_1500",
    )  # fmt: skip
    assert channels.REQUIRED_CHANNELS == ("cp_connect", "s2_c")
    assert set(channels.CP_CHANNELS) | set(channels.PP_OHM) <= set(channels.EV_CHANNELS)
    assert set(channels.CABLE_CHANNELS.values()) == set(channels.PP_OHM)
    assert channels.CABLE_RATINGS_A == (13, 20, 32, 63)
    assert {ohm: amps for amps, ch in channels.CABLE_CHANNELS.items() for ohm in [channels.PP_OHM[ch]]} == {
        1500.0: 13, 680.0: 20, 220.0: 32, 100.0: 63,
    }  # fmt: skip
    for state, closed in channels.STATE_CHANNELS.items():
        assert closed <= set(channels.CP_CHANNELS), state


def test_users_import_the_one_definition() -> None:
    assert config_bench.EV_CHANNELS is channels.EV_CHANNELS
    assert config_bench.REQUIRED_CHANNELS is channels.REQUIRED_CHANNELS
    assert plant.SWITCHES is channels.EV_CHANNELS
    assert plant.PP_OHM is channels.PP_OHM
    assert emulator.STATE_RELAYS is channels.STATE_CHANNELS
    assert emulator.CABLE_CHANNELS is channels.CABLE_CHANNELS
    assert emulator_stimulus.CABLE_RATINGS_A is channels.CABLE_RATINGS_A
    assert set(can_board.PP_CODE_SWITCH.values()) == set(channels.PP_OHM)


def test_docs_name_every_channel() -> None:
    text = (ROOT / "docs" / "bench-protocols.md").read_text(encoding="utf-8")
    section = text.split("## 3. Relay modules switching the EV emulator")[1].split("### 3.1")[0]
    assert [ch for ch in channels.EV_CHANNELS if f"`{ch}`" not in section] == []


def test_no_second_list_of_channel_names() -> None:
    """No module of rig/ or suites/ but channels.py spells two or more channel names as string literals."""
    found = []
    for folder in ("rig", "suites"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "rig/ev_emulator/channels.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in CHANNEL_ONLY}
            if len(names) >= 2:
                found.append(f"{rel}: {', '.join(sorted(names))}")
    assert not found, "import the names from rig.ev_emulator.channels: " + "; ".join(found)
