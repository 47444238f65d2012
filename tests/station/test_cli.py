"""``rig station show``: the station as rig.yaml names it, DUT strings escaped, nothing created, no lock taken."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rig.cli import main
from rig.station import DutRecord, Station
from tests.station.conftest import STORES, facts, install_store

HOSTILE = "\x1b[31m<script>\u202e\n"


def rig_yaml(tmp_path: Path, folder: Path) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(f"station:\n  name: bench-1\n  state_dir: {folder}\ndut: {{}}\n")
    return path


def show(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, str, str]:
    code = main(["station", "show", "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_the_fabric_and_each_dut_with_its_strings_escaped(
    station: Station, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = facts(STORES[0])
    with station:
        install_store(station)
        station.set_ca_index(1)
        station.save_record(DutRecord(0x1001, 0xFFF1, 0x8000, HOSTILE, 2, "2026-03-01T09:30:00Z", "join"))
    code, out, err = show(capsys, rig_yaml(tmp_path, folder))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"station bench-1 at {folder}"
    assert f"  compressed fabric id  {wheel['compressed_fabric_id']}" in lines
    assert "  controller node id    112233 (0x000000000001B669)" in lines
    assert "  fabric id             1 (0x0000000000000001)" in lines
    assert "  CA index              1" in lines
    fingerprint = next(line for line in lines if line.startswith("  root key SHA-256"))
    assert len(fingerprint.split()[-1].split(":")) == 32
    assert lines[-2] == "DUTs on this fabric: 1"
    assert lines[-1] == (
        "  node 0x0000000000001001  VID 0xFFF1  PID 0x8000  serial '\\x1b[31m<script>\\u202e\\n'  fabric index 2  "
        "commissioned 2026-03-01T09:30:00Z  join"
    )
    assert "\x1b" not in out and "\u202e" not in out


def test_show_of_a_station_never_opened_creates_nothing(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = show(capsys, rig_yaml(tmp_path, folder))
    assert code == 0
    assert out.splitlines() == [
        f"station bench-1 at {folder}",
        "  not created yet: the first run creates the folder and the station's fabric",
    ]
    assert not folder.parent.exists()


def test_show_reads_a_station_a_run_holds_and_says_so(
    station: Station, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = rig_yaml(tmp_path, folder)
    with station:
        code, out, _ = show(capsys, config)
    assert code == 0
    assert f"  in use by a run (pid {os.getpid()})" in out.splitlines()
    assert "  root key SHA-256      none yet" in out and "DUTs on this fabric: none" in out


def test_show_of_a_damaged_store_is_an_error_naming_the_file(
    station: Station, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with station:
        install_store(station)
    station.storage_path.write_bytes(b'{"sdk-config": {')
    code, out, err = show(capsys, rig_yaml(tmp_path, folder))
    assert code == 2 and out == ""
    assert err.startswith(f"rig: error: station bench-1: the fabric store {station.storage_path} is damaged")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["window", "0x1001", "--window-s", "60"], "a commissioning window lasts 180 .. 900 s"),
        (["window", "0x1001", "--discriminator", "5000"], "--discriminator 5000: must be 0 .. 4095"),
        (["remove-fabric", "0x1001", "--index", "3"], "its owner loses the DUT; add --yes"),
        (["remove-fabric", "0x1001", "--index", "0", "--yes"], "--index 0: a fabric index is 1 .. 254"),
        (["forget", "0x1001"], "acts on a network DUT"),
    ],
)
def test_operator_commands_refuse_bad_input_before_any_matter_traffic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    from rig.cli import main

    code = main(["station", *argv, "--config", str(rig_yaml(tmp_path, tmp_path / "station"))])
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err, err
    assert not (tmp_path / "station").exists(), "nothing was opened"


def test_operator_commands_take_a_node_id() -> None:
    from rig.cli import _parser

    with pytest.raises(SystemExit):
        _parser().parse_args(["station", "forget", "not-a-node"])
    assert _parser().parse_args(["station", "fabrics", "0x1001"]).node == 0x1001


def test_show_of_a_folder_no_run_has_set_up_yet(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder.mkdir(parents=True, mode=0o700)
    code, out, _ = show(capsys, rig_yaml(tmp_path, folder))
    assert code == 0 and "  no station.json yet: the first run sets the station up in this folder" in out
    assert os.listdir(folder) == []
