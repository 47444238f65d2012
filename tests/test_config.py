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
from rig.config.bench import EV_CHANNELS, transport_params, virtual_bench_spec
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
    assert cfg.dut.kind == "virtual"
    assert cfg.stimulus == "emulator", "the virtual bench's EV emulator drives the default run"
    assert cfg.config_path == path
    assert cfg.raw_digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cfg.report.dir == REPO / "reports"
    assert cfg.dut.pixit.test_event_trigger_key_bytes == bytes(range(16))


def test_default_rig_yaml_equals_model_defaults() -> None:
    # instruments and ev_emulator have no defaults: rig.yaml describes the virtual bench (tested below)
    cfg = load_config(REPO / "rig.yaml", environ={})
    defaults = config_from_dict({"station": {}, "dut": {}}, base_dir=REPO)
    # ... and the virtual bench's own choices: emulator stimulus, and the EVSE's installed CircuitCapacity
    bench = {"config_path", "raw_digest", "instruments", "ev_emulator", "stimulus"}
    got, want = cfg.model_dump(exclude=bench), defaults.model_dump(exclude=bench)
    assert got["virtual_evse"].pop("hardware") == {"circuitCapacity": 24000}
    want["virtual_evse"].pop("hardware")
    assert got == want
    assert (cfg.stimulus, defaults.stimulus) == ("emulator", "trigger")


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
        ("commissioning: ble", "'on-network', 'join' or 'already-commissioned'"),
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
    cfg = load_config(write(tmp_path, "station:\n  operator: ${HOME}\ndut: {}\n"), environ={"HOME": "/root"})
    assert cfg.station.operator == "${HOME}"


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
    message = config_error(tmp_path, MINIMAL, overrides={"stimulus": "robot"}, environ={})
    assert "rig.yaml: stimulus: invalid value 'robot'; allowed values: 'trigger', 'emulator' or 'manual'" in message
    assert "set by override stimulus='robot'" in message


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
    assert set(schema["properties"]) == {
        "station",
        "dut",
        "virtual_evse",
        "stimulus",
        "report",
        "instruments",
        "ev_emulator",
        "on_loss",
        "farm",
    }
    assert schema["additionalProperties"] is False
    dut = schema["$defs"]["Dut"]
    assert dut["additionalProperties"] is False
    assert dut["properties"]["kind"]["enum"] == ["virtual", "network"]
    assert schema["required"] == ["station", "dut"]


def test_rig_config_model_is_strict() -> None:
    with pytest.raises(Exception, match="extra"):
        RigConfig.model_validate({"station": {}, "dut": {}, "nope": 1})


# ----------------------------------------------------------------------------------- instruments and EV emulator
VISA_AC = "  ac:\n    driver: chroma_61500\n    transport: {kind: visa, resource: 'TCPIP0::10.0.0.2::inst0::INSTR'}\n"
DAQ = "  daq:\n    driver: waveshare_relay\n    transport: {kind: modbus_tcp, host: 10.0.0.3}\n"
SCOPE = "  scope:\n    driver: keysight_infiniivision\n    transport: {kind: visa, resource: 'TCPIP::10.0.0.4'}\n"
EMULATOR = "ev_emulator:\n    via: daq\n    pilot: scope\n"
WIRING = "    wiring: {cp_connect: 1, s2_c: 2}\n"


def bench(text: str) -> str:
    return MINIMAL + "instruments:\n" + text


def test_default_rig_yaml_instruments_in_declaration_order() -> None:
    cfg = load_config(REPO / "rig.yaml", environ={})
    assert list(cfg.instruments) == ["ac_source", "meter", "analyser", "daq", "scope", "ev_board"]
    ac = cfg.instruments["ac_source"]
    assert ac.driver == "chroma_61500"
    assert ac.transport.kind == "visa"
    ports = []
    for inst in cfg.instruments.values():
        t = inst.transport
        if t.kind == "visa":
            assert t.resource.startswith("TCPIP0::127.0.0.1::") and t.resource.endswith("::SOCKET")
            ports.append(int(t.resource.split("::")[2]))
        elif t.kind == "modbus_tcp":
            assert t.host == "127.0.0.1"
            ports.append(t.port)
        elif t.kind == "can":
            assert t.interface == "udp_multicast"
    assert len(ports) == len(set(ports)) == 5
    assert all(15000 <= p <= 15100 for p in ports)
    scope = cfg.instruments["scope"]
    assert scope.driver == "keysight_infiniivision" and set(scope.params["channels"]) == {
        "cp",
        "evse_output",
        "ac_source",
        "residual_current",
    }
    spec = virtual_bench_spec(cfg.instruments, cfg.ev_emulator)  # the virtual scope learns which input probes what
    assert spec["roles"]["scope"]["params"]["channels"] == scope.params["channels"]
    assert cfg.ev_emulator is not None and (cfg.ev_emulator.via, cfg.ev_emulator.pilot) == ("daq", "scope")
    assert cfg.instruments["daq"].driver == "keysight_daq970a" and spec["roles"]["daq"]["params"] == {"slot": 3}
    assert set(cfg.ev_emulator.wiring or {}) == set(EV_CHANNELS)
    assert cfg.report.energy_tolerance_pct == 2.0


def test_real_bench_example_loads() -> None:
    path = REPO / "examples" / "real-bench.yaml"
    cfg = load_config(path, environ={})
    assert cfg.dut.kind == "network"
    assert cfg.stimulus == "emulator"
    assert cfg.dut.paa_trust_store == path.parent / "paa-root-certs"
    assert cfg.dut.pics is not None
    ac = cfg.instruments["ac_source"].transport
    assert ac.kind == "visa" and ac.resource == "TCPIP0::192.168.10.21::inst0::INSTR"
    meter = cfg.instruments["meter"].transport
    assert meter.kind == "modbus_rtu" and meter.port == "/dev/ttyUSB0"
    assert (meter.baudrate, meter.parity, meter.stopbits, meter.unit) == (9600, "N", 1, 1)
    assert cfg.instruments["analyser"].driver == "yokogawa_wt"
    assert cfg.instruments["scope"].driver == "keysight_infiniivision"
    assert cfg.ev_emulator is not None and cfg.ev_emulator.phases == 3


def test_transport_defaults_per_kind(tmp_path: Path) -> None:
    text = bench(
        VISA_AC
        + DAQ
        + "  meter:\n    driver: eastron_sdm630\n    transport: {kind: modbus_rtu, port: /dev/ttyUSB0}\n"
        + "  board:\n    driver: can_ev_board\n    transport: {kind: can, interface: socketcan, channel: can0}\n"
    )
    cfg = load_config(write(tmp_path, text), environ={})
    visa = cfg.instruments["ac"].transport
    assert (visa.visa_library, visa.read_termination, visa.write_termination) == ("@py", "\n", "\n")  # type: ignore[union-attr]
    tcp = cfg.instruments["daq"].transport
    assert (tcp.port, tcp.unit) == (502, 1)  # type: ignore[union-attr]
    rtu = cfg.instruments["meter"].transport
    assert (rtu.baudrate, rtu.parity, rtu.stopbits, rtu.unit) == (9600, "N", 1, 1)  # type: ignore[union-attr]
    can = cfg.instruments["board"].transport
    assert can.bitrate == 500_000  # type: ignore[union-attr]
    assert cfg.instruments["ac"].params == {}
    assert transport_params(can) == {"interface": "socketcan", "channel": "can0", "bitrate": 500000, "timeout_s": 1.0}
    assert cfg.instruments["daq"].address == "10.0.0.3:502/unit 1"


def test_unknown_driver_lists_valid_drivers(tmp_path: Path) -> None:
    text = bench("  ac:\n    driver: chroma_9999\n    transport: {kind: visa, resource: x}\n")
    message = config_error(tmp_path, text)
    assert "rig.yaml: instruments.ac.driver: unknown driver 'chroma_9999'; valid drivers:" in message
    for name in ("chroma_61500", "eastron_sdm630", "can_ev_board", "keysight_daq970a", "waveshare_relay"):
        assert name in message


def test_unknown_transport_kind_lists_kinds(tmp_path: Path) -> None:
    message = config_error(tmp_path, bench("  ac:\n    driver: chroma_61500\n    transport: {kind: gpib}\n"))
    assert (
        "rig.yaml: instruments.ac.transport.kind: invalid value 'gpib'; allowed values: "
        "'visa', 'modbus_tcp', 'modbus_rtu', 'can'" in message
    )


def test_missing_transport_kind(tmp_path: Path) -> None:
    message = config_error(tmp_path, bench("  ac:\n    driver: chroma_61500\n    transport: {resource: x}\n"))
    assert "instruments.ac.transport.kind: required key is missing; allowed values: 'visa'" in message


def test_transport_field_errors_name_yaml_path_without_tag(tmp_path: Path) -> None:
    text = bench(
        "  ac:\n    driver: chroma_61500\n    transport: {kind: visa, resource: x, timout_s: 3}\n"
        "  meter:\n    driver: eastron_sdm630\n    transport: {kind: modbus_rtu, port: /dev/ttyS0, parity: X, "
        "stopbits: 3}\n"
        "  daq:\n    driver: waveshare_relay\n    transport: {kind: modbus_tcp, port: 70000}\n"
    )
    message = config_error(tmp_path, text)
    assert (
        "rig.yaml: instruments.ac.transport.timout_s: unknown key 'timout_s'; allowed keys: kind, resource, "
        "visa_library, timeout_s, read_termination, write_termination" in message
    )
    assert "instruments.meter.transport.parity: invalid value 'X'; allowed values: 'N', 'E' or 'O'" in message
    assert "instruments.meter.transport.stopbits: invalid value 3" in message
    assert "instruments.daq.transport.host: required key is missing" in message
    assert "instruments.daq.transport.port:" in message and "65535" in message
    assert ".visa." not in message and "modbus_tcp." not in message


def test_transport_must_be_a_mapping(tmp_path: Path) -> None:
    message = config_error(tmp_path, bench("  ac:\n    driver: chroma_61500\n    transport: visa\n"))
    assert "instruments.ac.transport: expected a mapping, got str 'visa'" in message


def test_driver_and_transport_kind_must_match(tmp_path: Path) -> None:
    text = bench("  meter:\n    driver: eastron_sdm630\n    transport: {kind: visa, resource: x}\n")
    message = config_error(tmp_path, text)
    assert (
        "instruments.meter.transport.kind: driver eastron_sdm630 does not speak visa; use modbus_tcp or "
        "modbus_rtu" in message
    )


def test_unknown_instrument_key_lists_allowed_keys(tmp_path: Path) -> None:
    message = config_error(tmp_path, bench(VISA_AC + "    param: {}\n"))
    assert "instruments.ac.param: unknown key 'param'; allowed keys: driver, transport, params" in message


def test_role_names_must_be_identifiers(tmp_path: Path) -> None:
    text = bench("  ac-source:\n    driver: chroma_61500\n    transport: {kind: visa, resource: x}\n")
    message = config_error(tmp_path, text)
    assert "rig.yaml: instruments: role names must be identifiers" in message and "'ac-source'" in message


def test_env_substitution_in_instrument_addresses(tmp_path: Path) -> None:
    text = bench(
        "  ac:\n    driver: chroma_61500\n    transport: {kind: visa, resource: '${RIG_AC}'}\n"
        "  daq:\n    driver: waveshare_relay\n    transport: {kind: modbus_tcp, host: '${RIG_DAQ_HOST:-10.1.1.1}', "
        "port: '${RIG_DAQ_PORT:-502}'}\n"
    )
    path = write(tmp_path, text)
    cfg = load_config(path, environ={"RIG_AC": "TCPIP0::10.9.9.9::inst0::INSTR", "RIG_DAQ_PORT": "1502"})
    assert cfg.instruments["ac"].transport.resource == "TCPIP0::10.9.9.9::inst0::INSTR"  # type: ignore[union-attr]
    daq = cfg.instruments["daq"].transport
    assert (daq.host, daq.port) == ("10.1.1.1", 1502)  # type: ignore[union-attr]
    assert "instruments.ac.transport.resource: environment variable RIG_AC is not set" in config_error(
        tmp_path, text, environ={}
    )


def test_ev_emulator_on_relays(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, bench(DAQ + SCOPE) + EMULATOR + WIRING), environ={})
    assert cfg.ev_emulator is not None
    assert (cfg.ev_emulator.ev_max_current_a, cfg.ev_emulator.phases) == (32.0, 1)
    assert cfg.ev_emulator.wiring == {"cp_connect": 1, "s2_c": 2} and cfg.ev_emulator.pilot == "scope"


def test_ev_emulator_via_must_name_a_role(tmp_path: Path) -> None:
    message = config_error(tmp_path, bench(DAQ + VISA_AC) + "ev_emulator:\n    via: dac\n" + WIRING)
    assert "rig.yaml: ev_emulator.via: no instrument role 'dac'; declared roles: daq, ac" in message


def test_ev_emulator_via_must_offer_relays_or_be_a_board(tmp_path: Path) -> None:
    message = config_error(tmp_path, bench(DAQ + VISA_AC) + "ev_emulator:\n    via: ac\n" + WIRING)
    assert (
        "ev_emulator.via: role 'ac' (chroma_61500) offers neither RelayIo nor an EV emulator board; suitable "
        "roles: daq" in message
    )


def test_ev_emulator_pilot_required_on_relays_and_must_measure(tmp_path: Path) -> None:
    message = config_error(tmp_path, bench(DAQ + SCOPE) + "ev_emulator:\n    via: daq\n" + WIRING)
    assert (
        "ev_emulator.pilot: required when via is a relay instrument (daq: waveshare_relay): the role measuring the "
        "pilot; suitable roles: scope" in message
    )
    message = config_error(tmp_path, bench(DAQ + VISA_AC) + "ev_emulator:\n    via: daq\n    pilot: ac\n" + WIRING)
    assert "ev_emulator.pilot: role 'ac' (chroma_61500) cannot measure the pilot; roles that can: none declared" in (
        message
    )
    message = config_error(tmp_path, bench(DAQ + SCOPE) + "ev_emulator:\n    via: daq\n    pilot: scop\n" + WIRING)
    assert "ev_emulator.pilot: no instrument role 'scop'; roles measuring the pilot: scope" in message


def test_ev_emulator_wiring_required_on_relays_and_refused_on_board(tmp_path: Path) -> None:
    assert "ev_emulator.wiring: required when via is a relay instrument (daq: waveshare_relay)" in config_error(
        tmp_path, bench(DAQ + SCOPE) + EMULATOR
    )
    board = "  board:\n    driver: can_ev_board\n    transport: {kind: can, interface: socketcan, channel: can0}\n"
    cfg = load_config(write(tmp_path, bench(board) + "ev_emulator: {via: board, ev_max_current_a: 16}\n"), environ={})
    assert cfg.ev_emulator is not None and cfg.ev_emulator.wiring is None
    assert "ev_emulator.wiring: role 'board' is an EV emulator board" in config_error(
        tmp_path, bench(board) + "ev_emulator:\n    via: board\n" + WIRING
    )


def test_ev_emulator_wiring_checks(tmp_path: Path) -> None:
    wiring = "    wiring: {cp_connect: 1, s2_c: 1, s2_e: 3, pp_100: 0}\n"
    message = config_error(tmp_path, bench(DAQ + SCOPE) + EMULATOR + wiring)
    assert "rig.yaml: ev_emulator.wiring: unknown channel 's2_e'; allowed channels: cp_connect, s2_c, s2_d" in message
    assert "relay numbers start at 1, got pp_100: 0" in message
    assert "used twice: relay 1 (cp_connect, s2_c)" in message
    missing = config_error(tmp_path, bench(DAQ) + "ev_emulator:\n    via: daq\n    wiring: {s2_c: 2}\n")
    assert "channel cp_connect must be wired" in missing


def test_ev_emulator_value_checks(tmp_path: Path) -> None:
    text = bench(DAQ + SCOPE) + EMULATOR + "    phases: 2\n    ev_max_current_a: 0\n    viaa: x\n" + WIRING
    message = config_error(tmp_path, text)
    assert "ev_emulator.phases: invalid value 2; allowed values: 1 or 3" in message
    assert "ev_emulator.ev_max_current_a:" in message
    assert "ev_emulator.viaa: unknown key 'viaa'; allowed keys: via, pilot, wiring, ev_max_current_a, phases" in message


def test_stimulus_emulator_needs_ev_emulator(tmp_path: Path) -> None:
    assert "rig.yaml: stimulus: 'emulator' needs an ev_emulator section" in config_error(
        tmp_path, MINIMAL + "stimulus: emulator\n"
    )
    assert load_config(write(tmp_path, MINIMAL + "stimulus: manual\n"), environ={}).stimulus == "manual"


def test_report_energy_tolerance(tmp_path: Path) -> None:
    assert (
        load_config(
            write(tmp_path, MINIMAL + "report: {energy_tolerance_pct: 1.5}\n"), environ={}
        ).report.energy_tolerance_pct
        == 1.5
    )
    assert "report.energy_tolerance_pct:" in config_error(tmp_path, MINIMAL + "report: {energy_tolerance_pct: 0}\n")


def test_empty_instruments_section(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL + "instruments:\n"), environ={}).instruments == {}


def test_schema_has_transport_union() -> None:
    schema = config_json_schema()
    transport = schema["$defs"]["InstrumentConfig"]["properties"]["transport"]
    assert transport["discriminator"]["propertyName"] == "kind"
    assert set(transport["discriminator"]["mapping"]) == {"visa", "modbus_tcp", "modbus_rtu", "can"}


# ------------------------------------------------------------------------------------- hostile and careless files
ALIAS_BOMB = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 9)}]\n" for i in range(10)
)  # 9**10 values once expanded


def test_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    import time

    t0 = time.monotonic()
    message = config_error(tmp_path, MINIMAL + ALIAS_BOMB)
    assert "alias bomb" in message and message.startswith("rig.yaml: line ")
    assert time.monotonic() - t0 < 2


def test_alias_loop_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    assert "alias refers to the value that contains it" in config_error(tmp_path, MINIMAL + "x: &x {a: *x}\n")
    assert "nested" in config_error(tmp_path, MINIMAL + "x: " + "[" * 100 + "]" * 100 + "\n")
    assert "nested" in config_error(tmp_path, "[" * 5000 + "]" * 5000)


def test_huge_file_is_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, MINIMAL + "#" * 2_000_000 + "\n")
    assert "too large" in message and "rig.yaml" in message


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "inf", "1e308", "1.0e308", "86400.5"])
def test_timeouts_are_finite_and_bounded(tmp_path: Path, value: str) -> None:
    message = config_error(tmp_path, f"station: {{}}\ndut: {{timeouts: {{event: {value}}}}}\n")
    assert message.startswith("rig.yaml: dut.timeouts.event: "), message


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        (
            "instruments: {m: {driver: eastron_sdm630, transport: {kind: modbus_tcp, host: h, timeout_s: 1.0e308}}}",
            "instruments.m.transport.timeout_s",
        ),
        (
            "instruments: {m: {driver: eastron_sdm630, transport: {kind: modbus_tcp, host: h}, params: {x: .inf}}}",
            "instruments.m.params",
        ),
        ("virtual_evse: {hardware: {circuitCapacity: .nan}}", "virtual_evse.hardware.circuitCapacity"),
        ("dut: {pixit: {extra: {big: 99999999999999999999999}}}", "dut.pixit.extra"),
    ],
)
def test_every_number_field_is_bounded(tmp_path: Path, section: str, fragment: str) -> None:
    text = "station: {}\n" + section + ("\n" if section.startswith("dut") else "\ndut: {}\n")
    assert fragment in config_error(tmp_path, text)


def test_nested_env_defaults(tmp_path: Path) -> None:
    text = 'station: {operator: "${RIG_A:-${RIG_B:-nobody}}"}\ndut: {}\n'
    path = write(tmp_path, text)
    assert load_config(path, environ={}).station.operator == "nobody"
    assert load_config(path, environ={"RIG_B": "bea"}).station.operator == "bea"
    assert load_config(path, environ={"RIG_A": "ann"}).station.operator == "ann"
    # the inner variable must be set only when the default is used
    path = write(tmp_path, 'station: {operator: "${RIG_A:-${RIG_B}}"}\ndut: {}\n')
    assert load_config(path, environ={"RIG_A": "ann"}).station.operator == "ann"
    assert "RIG_B is not set" in config_error(tmp_path, 'station: {operator: "${RIG_A:-${RIG_B}}"}\ndut: {}\n')
    # a value from the environment is not expanded again
    assert load_config(path, environ={"RIG_A": "${RIG_C}"}).station.operator == "${RIG_C}"


def test_unclosed_and_too_deep_env_references_are_refused(tmp_path: Path) -> None:
    message = config_error(tmp_path, 'station: {operator: "${RIG_A"}\ndut: {}\n', environ={})
    assert message == "rig.yaml: station.operator: ${RIG_A is not closed: write ${RIG_A} or ${RIG_A:-default}"
    deep = "${RIG_A:-" * 20 + "x" + "}" * 20
    assert "nested more than" in config_error(tmp_path, f'station: {{operator: "{deep}"}}\ndut: {{}}\n', environ={})


@pytest.mark.parametrize("key", ["config_path", "raw_digest", "config_path.x"])
def test_loader_fields_cannot_be_overridden(tmp_path: Path, key: str) -> None:
    message = config_error(tmp_path, MINIMAL, overrides={key: "/etc/other.yaml"})
    assert f"override {key!r}" in message and "set by the loader" in message


def test_special_files_are_refused(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="FIFO"):
        load_config(fifo)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="loop of symbolic links"):
        load_config(tmp_path / "a.yaml")


# ------------------------------------------------------------------------------------------ dut.firmware
NETWORK_DUT = "station: {}\ndut:\n  kind: network\n  attestation: allow-test-paa\n"


def test_firmware_defaults_to_matter_ota(tmp_path: Path) -> None:
    fw = load_config(write(tmp_path, MINIMAL)).dut.firmware
    assert (fw.method, fw.command, fw.timeout, fw.keeps_fabrics) == ("ota", [], 600.0, True)


def test_a_flashing_command_is_read_as_an_argv(tmp_path: Path) -> None:
    text = NETWORK_DUT + (
        "  firmware:\n    method: command\n"
        "    command: [vendor-flash, --port, /dev/ttyUSB0, '{image}', '--expect={software_version}']\n"
        "    timeout: 90\n    keeps_fabrics: false\n"
    )
    fw = load_config(write(tmp_path, text)).dut.firmware
    assert fw.command == ["vendor-flash", "--port", "/dev/ttyUSB0", "{image}", "--expect={software_version}"]
    assert (fw.method, fw.timeout, fw.keeps_fabrics) == ("command", 90.0, False)


def test_an_unknown_placeholder_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    text = NETWORK_DUT + "  firmware:\n    method: command\n    command: [vendor-flash, '{imag}']\n"
    message = config_error(tmp_path, text)
    assert (
        "rig.yaml: dut.firmware.command: '{imag}': unknown placeholder {imag}; allowed: {image}, {payload}" in message
    )
    assert "{software_version}" in message and "{node_id}" in message


@pytest.mark.parametrize(
    ("firmware", "fragment"),
    [
        ("{method: flash}", "dut.firmware.method: "),
        ("{method: command}", "method: command needs command: the flasher's argv as a list"),
        ("{method: command, command: ['{image}', x]}", "may not hold a placeholder"),
        ("{method: command, command: [x, '{image:>10}']}", "takes no format spec"),
        ("{method: command, command: [x, '{image']}", "write a literal brace as {{ or }}"),
        ("{method: command, command: [x], timeout: 0}", "dut.firmware.timeout: "),
        ("{method: command, command: [x], erase: true}", "dut.firmware.erase: unknown key 'erase'; allowed keys: "),
        ("{method: command, command: x}", "dut.firmware.command: "),
    ],
)
def test_bad_firmware_settings_are_named(tmp_path: Path, firmware: str, fragment: str) -> None:
    message = config_error(tmp_path, NETWORK_DUT + f"  firmware: {firmware}\n")
    assert fragment in message, message


def test_bad_method_lists_the_allowed_ones(tmp_path: Path) -> None:
    message = config_error(tmp_path, NETWORK_DUT + "  firmware: {method: flash}\n")
    assert "'ota'" in message and "'command'" in message


def test_a_flashing_command_needs_a_dut_that_outlives_the_session(tmp_path: Path) -> None:
    text = "station: {}\ndut:\n  firmware: {method: command, command: [rig, sim, flash, '{image}']}\n"
    message = config_error(tmp_path, text)
    assert "rig.yaml: dut.firmware.method: command: a flasher needs a DUT that outlives a session" in message
