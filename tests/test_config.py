"""Tests of rig.config: the default rig.yaml, strictness, messages, layering and paths."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rig.config import (
    RigConfig,
    apply_overrides,
    config_from_dict,
    config_json_schema,
    known_defects,
    load_config,
    parse_override,
)
from rig.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
MINIMAL = "station: {}\ndut: {}\n"


def write(tmp_path: Path, text: str, name: str = "rig.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# ------------------------------------------------------------------------------------------ default file
def test_default_rig_yaml_describes_the_virtual_bench() -> None:
    path = REPO / "rig.yaml"
    cfg = load_config(path, environ={})
    assert cfg.is_virtual
    assert cfg.dut.kind == "virtual"
    assert cfg.stimulus == "trigger"
    assert cfg.config_path == path
    assert cfg.raw_digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cfg.report.dir == REPO / "reports"
    assert cfg.dut.pixit.test_event_trigger_key_bytes == bytes(range(16))


def test_default_rig_yaml_equals_model_defaults() -> None:
    cfg = load_config(REPO / "rig.yaml", environ={})
    defaults = config_from_dict({"station": {}, "dut": {}}, base_dir=REPO)
    assert cfg.model_dump(exclude={"config_path", "raw_digest"}) == defaults.model_dump(
        exclude={"config_path", "raw_digest"}
    )


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), environ={})
    assert cfg.station.name == "virtual-bench"
    assert (cfg.dut.node_id, cfg.dut.passcode, cfg.dut.discriminator, cfg.dut.endpoint) == (0x1001, 20202021, 3840, 1)
    assert cfg.dut.timeouts.commissioning == 30 and cfg.dut.timeouts.event == 10
    assert cfg.virtual_evse.features == ["PREF", "SOC", "PNC", "RFID", "V2X"]
    assert cfg.virtual_evse.optional.start_diagnostics is True
    assert (cfg.virtual_evse.vendor_id, cfg.virtual_evse.product_id, cfg.virtual_evse.port) == (0xFFF1, 0x8000, 5540)
    assert cfg.report.title == "EVSE conformance report"


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), environ={})
    with pytest.raises(Exception, match="frozen"):
        cfg.dut.endpoint = 2  # type: ignore[misc,unused-ignore]


def test_missing_sections_are_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, "report: {}\n")
    assert "rig.yaml: station: required key is missing" in message
    assert "rig.yaml: dut: required key is missing" in message


def test_empty_section_means_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "station:\ndut:\n  pixit:\n"), environ={})
    assert cfg.dut.pixit.test_event_trigger_key == "000102030405060708090a0b0c0d0e0f"


# ------------------------------------------------------------------------------------------- strictness
def test_unknown_top_level_key_lists_allowed_keys(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "stimuls: trigger\n")
    assert "rig.yaml: stimuls: unknown key 'stimuls'" in message
    assert "allowed keys: station, dut, virtual_evse, stimulus, report" in message
    assert "config_path" not in message


def test_unknown_nested_key_names_path_and_allowed_keys(tmp_path: Path) -> None:
    message = config_error(tmp_path, "station: {}\ndut:\n  timeouts:\n    comissioning: 5\n")
    assert "rig.yaml: dut.timeouts.comissioning: unknown key 'comissioning'" in message
    assert "allowed keys: commissioning, event, command, dut_start" in message


def test_loader_fields_cannot_be_set_in_the_file(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "raw_digest: abc\n")
    assert "rig.yaml: raw_digest: unknown key" in message


def test_bad_literal_lists_allowed_values(tmp_path: Path) -> None:
    message = config_error(tmp_path, "station: {}\ndut:\n  kind: serial\n")
    assert "rig.yaml: dut.kind: invalid value 'serial'; allowed values: 'virtual' or 'network'" in message


def test_bad_feature_in_list_names_index(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "virtual_evse:\n  features: [SOC, SOCK]\n")
    assert "virtual_evse.features[1]: invalid value 'SOCK'" in message
    assert "'RFID'" in message


def test_wrong_type_names_expected_type(tmp_path: Path) -> None:
    message = config_error(tmp_path, "station: {}\ndut:\n  endpoint: one\n")
    assert "rig.yaml: dut.endpoint: expected an integer, got str 'one'" in message


def test_every_problem_is_listed(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, "station: {}\ndut:\n  endpoint: 70000\n  passcode: 12345678\n  discriminator: 4096\n"
    )
    assert message.startswith("3 problems:")
    assert "dut.endpoint:" in message and "65534" in message
    assert "dut.passcode: 12345678 is not allowed" in message
    assert "dut.discriminator:" in message and "4095" in message
    assert "Traceback" not in message and "pydantic" not in message


@pytest.mark.parametrize(
    ("dut", "fragment"),
    [
        ("node_id: 0", "dut.node_id"),
        ("passcode: 11111111", "not allowed as a Matter passcode"),
        ("passcode: 100000000", "dut.passcode"),
        ("setup_code: '1234'", "manual pairing code"),
        ("commissioning: ble", "'on-network' or 'already-commissioned'"),
        ("pixit: {test_event_trigger_key: '00'}", "32 hex digits"),
        ("pixit: {extra: {a: [1]}}", "dut.pixit.extra: value of 'a'"),
        ("timeouts: {event: 0}", "dut.timeouts.event"),
    ],
)
def test_dut_value_checks(tmp_path: Path, dut: str, fragment: str) -> None:
    assert fragment in config_error(tmp_path, f"station: {{}}\ndut:\n  {dut}\n")


def test_setup_code_and_key_are_normalised(tmp_path: Path) -> None:
    key = "00112233445566778899AABBCCDDEEFF"
    text = f"station: {{}}\ndut:\n  setup_code: 3497-011-2332\n  pixit: {{test_event_trigger_key: {key}}}\n"
    cfg = load_config(write(tmp_path, text), environ={})
    assert cfg.dut.setup_code == "34970112332"
    assert cfg.dut.pixit.test_event_trigger_key == "00112233445566778899aabbccddeeff"


def test_unknown_defect_lists_valid_ones(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "virtual_evse:\n  defects: [no-such-defect]\n")
    assert "virtual_evse.defects[0]: unknown defect 'no-such-defect'" in message
    for name in known_defects():
        assert name in message


def test_known_defect_accepted(tmp_path: Path) -> None:
    name = sorted(known_defects())[0]
    cfg = load_config(write(tmp_path, MINIMAL + f"virtual_evse:\n  defects: [{name}]\n"), environ={})
    assert cfg.virtual_evse.defects == [name]


def test_known_defects_match_catalogue() -> None:
    catalogue = json.loads((REPO / "virtual_evse" / "defects.json").read_text(encoding="utf-8"))
    assert known_defects() == catalogue


# --------------------------------------------------------------------------------------- file problems
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_default_path_is_rig_yaml_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "station: {name: here}\ndut: {}\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}).station.name == "here"


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, "station: {}\ndut:\n  endpoint: 1\n bad: [\n")
    assert message.startswith("rig.yaml: YAML syntax error at line 4")


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    message = config_error(tmp_path, "station: {}\ndut:\n  endpoint: 1\n  endpoint: 2\n")
    assert "line 4" in message and "duplicate key 'endpoint'" in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "top level must be a mapping" in config_error(tmp_path, "- station\n- dut\n")


# ------------------------------------------------------------------------------------------- layering
def test_env_substitution_set_and_default(tmp_path: Path) -> None:
    text = "station:\n  name: ${RIG_BENCH}\n  operator: ${RIG_OPERATOR:-nobody}\ndut:\n  endpoint: ${RIG_EP:-1}\n"
    cfg = load_config(write(tmp_path, text), environ={"RIG_BENCH": "bench-7", "RIG_EP": "2"})
    assert cfg.station.name == "bench-7"
    assert cfg.station.operator == "nobody"
    assert cfg.dut.endpoint == 2


def test_env_substitution_unset_names_path_and_variable(tmp_path: Path) -> None:
    message = config_error(tmp_path, "station:\n  name: bench-${RIG_BENCH}\ndut: {}\n", environ={})
    assert "rig.yaml: station.name: environment variable RIG_BENCH is not set" in message


def test_env_substitution_only_rig_variables(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "station:\n  name: ${HOME}\ndut: {}\n"), environ={"HOME": "/root"})
    assert cfg.station.name == "${HOME}"


def test_overrides_win_over_env_and_file(tmp_path: Path) -> None:
    text = "station:\n  name: ${RIG_BENCH:-file}\ndut:\n  endpoint: 3\n"
    path = write(tmp_path, text)
    assert load_config(path, environ={}).station.name == "file"
    assert load_config(path, environ={"RIG_BENCH": "env"}).station.name == "env"
    cfg = load_config(
        path,
        environ={"RIG_BENCH": "env"},
        overrides={"station.name": "cli", "virtual_evse.defects": [sorted(known_defects())[0]]},
    )
    assert cfg.station.name == "cli"
    assert cfg.dut.endpoint == 3
    assert cfg.virtual_evse.defects == [sorted(known_defects())[0]]


def test_override_errors_say_they_come_from_override(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL, overrides={"stimulus": "emulator"}, environ={})
    assert "rig.yaml: stimulus: invalid value 'emulator'; allowed values: 'trigger'" in message
    assert "set by override stimulus='emulator'" in message


def test_override_through_a_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"dut\.kind is a str, not a section"):
        apply_overrides({"dut": {"kind": "virtual"}}, overrides={"dut.kind.x": 1}, environ={})


def test_apply_overrides_does_not_modify_input() -> None:
    data = {"dut": {"endpoint": 1}}
    result = apply_overrides(data, overrides={"dut.endpoint": 2, "report.title": "T"}, environ={})
    assert data == {"dut": {"endpoint": 1}}
    assert result == {"dut": {"endpoint": 2}, "report": {"title": "T"}}


def test_parse_override() -> None:
    assert parse_override("dut.endpoint=2") == ("dut.endpoint", 2)
    assert parse_override("virtual_evse.defects=[a, b]") == ("virtual_evse.defects", ["a", "b"])
    with pytest.raises(ConfigError, match=r"dotted\.path=value"):
        parse_override("dut.endpoint")


# ---------------------------------------------------------------------------------------------- paths
def test_relative_paths_resolve_against_yaml_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = "station: {}\ndut:\n  pics: pics/evse.txt\n  paa_trust_store: /abs/paa\nreport:\n  dir: ../out\n"
    cfg = load_config(write(bench, text), environ={})
    assert cfg.dut.pics == bench / "pics" / "evse.txt"
    assert cfg.dut.paa_trust_store == Path("/abs/paa")
    assert cfg.report.dir == tmp_path / "out"


def test_config_from_dict_without_base_dir_keeps_relative_paths() -> None:
    cfg = config_from_dict({"station": {}, "dut": {"pics": "x.txt"}})
    assert cfg.dut.pics == Path("x.txt")
    assert cfg.config_path is None


# --------------------------------------------------------------------------------------------- schema
def test_json_schema_for_editors() -> None:
    schema = config_json_schema()
    json.dumps(schema)
    assert set(schema["properties"]) == {"station", "dut", "virtual_evse", "stimulus", "report"}
    assert schema["additionalProperties"] is False
    dut = schema["$defs"]["Dut"]
    assert dut["additionalProperties"] is False
    assert dut["properties"]["kind"]["enum"] == ["virtual", "network"]
    assert schema["required"] == ["station", "dut"]


def test_rig_config_model_is_strict() -> None:
    with pytest.raises(Exception, match="extra"):
        RigConfig.model_validate({"station": {}, "dut": {}, "nope": 1})
