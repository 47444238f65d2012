"""Bad input at each package boundary: a wrong-typed value from rig.yaml, the command line, a file or the DUT is
refused with a message naming where it came from (never a traceback, never silently used)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rig.cli import main as rig_main
from rig.config import config_from_dict, load_config
from rig.errors import ConfigError, InstrumentError


# -- rig.yaml -> config -----------------------------------------------------------------------------------------
def test_config_refuses_a_wrong_typed_value_naming_file_and_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("station: {}\ndut:\n  kind: network\n  endpoint: one\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) or "rig.yaml" in str(err.value)
    assert "dut.endpoint" in str(err.value)


def test_config_refuses_an_unknown_stimulus_listing_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"station": {}, "dut": {"kind": "network"}, "stimulus": "telepathy"})
    text = str(err.value)
    assert "stimulus" in text and "trigger" in text and "emulator" in text and "manual" in text


# -- command line -> config -------------------------------------------------------------------------------------
def test_cli_override_of_a_wrong_type_names_the_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("station: {}\ndut: {kind: network}\n")
    code = rig_main(["config", "check", "--config", str(path), "--set", "dut.timeouts.event=soon"])
    assert code == 2
    err = capsys.readouterr().err
    assert "dut.timeouts.event" in err and "Traceback" not in err


# -- a file -> PICS ---------------------------------------------------------------------------------------------
def test_pics_file_with_a_non_boolean_value_names_file_and_line(tmp_path: Path) -> None:
    from rig.pics import load_pics

    path = tmp_path / "dut.txt"
    path.write_text("EEVSE.S=1\nEEVSE.S.F00=maybe\n")
    with pytest.raises(ConfigError) as err:
        load_pics(path)
    assert f"{path.name}:2" in str(err.value) or f"{path}:2" in str(err.value)


# -- the DUT -> the Matter layer --------------------------------------------------------------------------------
class _Node:
    """A node handle whose DUT answers with the given values (what a non-conformant firmware could send)."""

    endpoint = 1

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    async def read_many(self, attrs: list[Any]) -> dict[Any, Any]:
        return {a: self.values[a.__name__] for a in attrs if a.__name__ in self.values}

    async def read(self, attr: Any) -> Any:
        return self.values.get(attr.__name__)


GOOD = {"FeatureMap": 0x1F, "AttributeList": [0, 1, 2], "AcceptedCommandList": [1, 2], "GeneratedCommandList": []}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("FeatureMap", "31", "FeatureMap: the DUT sent '31' (str)"),
        ("FeatureMap", True, "FeatureMap: the DUT sent True (bool)"),
        ("AttributeList", {"a": 1}, "AttributeList: the DUT sent {'a': 1} (dict)"),
        ("AcceptedCommandList", [1, "two"], "AcceptedCommandList: the DUT's list holds 'two' (str)"),
        ("GeneratedCommandList", None, "the DUT returned no GeneratedCommandList"),
    ],
)
def test_dut_elements_of_a_wrong_type_are_refused_naming_the_attribute(name: str, value: Any, expected: str) -> None:
    from rig.matter.elements import read_dut_elements

    node = _Node({**GOOD, name: value})
    with pytest.raises(AssertionError) as err:
        asyncio.run(read_dut_elements(node))  # type: ignore[arg-type]
    assert expected in str(err.value)
    assert "endpoint 1" in str(err.value)


def test_dut_elements_of_the_right_types_are_read() -> None:
    from rig.matter.elements import read_dut_elements

    elements = asyncio.run(read_dut_elements(_Node(GOOD)))  # type: ignore[arg-type]
    assert elements.feature_map == 0x1F and elements.attribute_ids == (0, 1, 2)


# -- an instrument -> the bench ---------------------------------------------------------------------------------
def test_an_instrument_answer_of_the_wrong_type_names_role_address_and_command() -> None:
    from rig.instruments.chroma_61500 import Chroma61500
    from rig.instruments.scripted import ScriptedMessageTransport

    transport = ScriptedMessageTransport(
        [("?", "FETC:VOLT:ACDC?", "two hundred")], role="ac_source", address="TCPIP0::10.0.0.5::INSTR"
    )
    source = Chroma61500("ac_source", transport)
    with pytest.raises(InstrumentError) as err:
        source.measure_voltage()
    text = str(err.value)
    assert "ac_source" in text and "10.0.0.5" in text and "two hundred" in text
