"""station.name is a folder name; station.state_dir (default /var/lib/rig/<name>) holds the station."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.config import RigConfig, load_config
from rig.errors import ConfigError
from rig.station import Station, station_dir


def load(tmp_path: Path, station: str) -> RigConfig:
    path = tmp_path / "rig.yaml"
    path.write_text(f"station:\n{station}dut: {{}}\n")
    return load_config(path, environ={})


def test_the_default_folder_is_under_var_lib_rig(tmp_path: Path) -> None:
    cfg = load(tmp_path, "  name: lab-bench_2.a\n")
    assert cfg.station.state_dir is None
    assert station_dir(cfg) == Path("/var/lib/rig/lab-bench_2.a")
    assert Station.from_config(cfg).folder == Path("/var/lib/rig/lab-bench_2.a")


def test_a_relative_state_dir_is_relative_to_rig_yaml(tmp_path: Path) -> None:
    cfg = load(tmp_path, "  name: b\n  state_dir: state/b\n")
    assert station_dir(cfg) == tmp_path / "state" / "b"


@pytest.mark.parametrize("name", ["my bench", "a/b", ".hidden", "", "x" * 65, "bänk"])
def test_a_name_that_cannot_be_a_folder_is_refused_listing_what_may(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, f"  name: {name!r}\n")
    assert "station.name" in str(exc.value)
    assert "letters, digits, '.', '_' or '-'" in str(exc.value) and "not starting with '.'" in str(exc.value)
