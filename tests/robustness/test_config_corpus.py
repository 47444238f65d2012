"""Robustness corpus, rig.yaml: malformed and hostile bench descriptions through ``rig config check``.

Each row is one file (or one environment) and the fragments its one-line message must hold: the file and the
YAML path or line, or the value. Every case: exit 2, no traceback, bounded in time, nothing written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.robustness.cli import run_rig, snapshot
from tests.robustness.expect import assert_refused

S = "station: {}\n"
D = "dut: {}\n"
M = S + D
MODBUS = "driver: eastron_sdm630, transport: {kind: modbus_tcp, host: h"


def _bomb(levels: int = 10) -> str:
    return "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'x'] * 9)}]\n" for i in range(levels))


# (id, file content, fragments of the message)
CONFIG_CASES: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    # shape of the document
    ("top-level-list", "- a\n- b\n", ("rig.yaml", "top level must be a mapping")),
    ("top-level-scalar", "42\n", ("rig.yaml", "top level")),
    ("top-level-string", "just text\n", ("rig.yaml", "top level")),
    ("two-documents", M + "---\n" + M, ("rig.yaml", "line 3")),
    ("unknown-top-key", M + "bogus: 1\n", ("rig.yaml: bogus: unknown key",)),
    ("bool-as-endpoint", S + "dut: {endpoint: true}\n", ("rig.yaml: dut", "endpoint: expected a number, got true")),
    (
        "bool-as-timeout",
        S + "dut: {timeouts: {event: false}}\n",
        ("rig.yaml: dut.timeouts", "event: expected a number"),
    ),
    (
        "bool-as-transport-port",
        M + "instruments:\n  m: {" + MODBUS + ", port: true}}\n",
        ("rig.yaml: instruments.m.transport", "port: expected a number, got true"),
    ),
    ("unknown-nested-key", S + "dut: {bogus: 1}\n", ("rig.yaml: dut.bogus",)),
    ("typo-in-report", M + "report: {databse: x.sqlite}\n", ("rig.yaml: report.databse",)),
    ("missing-dut", S, ("rig.yaml: dut: required key is missing",)),
    ("section-is-list", S + "dut: [1, 2]\n", ("rig.yaml: dut",)),
    ("config-path-in-file", M + "config_path: /etc/passwd\n", ("rig.yaml: config_path: unknown key",)),
    ("raw-digest-in-file", M + "raw_digest: abc\n", ("rig.yaml: raw_digest: unknown key",)),
    # YAML syntax and tags
    ("syntax-open-flow", S + "dut: [\n", ("rig.yaml: YAML syntax error at line",)),
    ("syntax-tab-indent", S + "dut:\n\tendpoint: 1\n", ("rig.yaml: YAML syntax error at line 3",)),
    ("syntax-bad-indent", S + "dut:\n  endpoint: 1\n endpoint2: 2\n", ("rig.yaml: YAML syntax error at line",)),
    ("duplicate-key", M + "dut: {}\n", ("rig.yaml", "line 3", "duplicate key 'dut'")),
    ("python-object-tag", M + "x: !!python/object/apply:os.system ['true']\n", ("rig.yaml", "line 3")),
    ("unknown-tag", M + "x: !custom 1\n", ("rig.yaml", "line 3")),
    ("binary-tag-name", "station: {name: !!binary /w==}\n" + D, ("rig.yaml: station.name",)),
    ("date-as-name", "station: {name: 2024-01-01}\n" + D, ("rig.yaml: station.name",)),
    ("unhashable-key", M + "? [a, b]\n: 1\n", ("rig.yaml", "line")),
    ("merge-non-mapping", M + "x: {<<: [1, 2]}\n", ("rig.yaml", "line 3")),
    ("undefined-alias", M + "x: *nothing\n", ("rig.yaml", "line 3")),
    ("not-utf8", "station: {name: caf\xe9}\n".encode("latin-1") + D.encode(), ("rig.yaml: not UTF-8",)),
    ("binary-garbage", b"\x00\xff\xfe\x00\x89PNG\r\n", ("rig.yaml",)),
    ("nul-in-text", 'station: {name: "a\x00b"}\n' + D, ("rig.yaml",)),
    # alias bombs, loops, nesting, size
    ("alias-bomb", M + _bomb(), ("rig.yaml", "line", "alias bomb")),
    (
        "alias-bomb-in-mapping",
        M
        + "a: &a {x: 1, y: 1, z: 1}\n"
        + "".join(
            f"b{i}: &b{i} {{p: *{'a' if i == 0 else f'b{i - 1}'}, q: *{'a' if i == 0 else f'b{i - 1}'}, "
            f"r: *{'a' if i == 0 else f'b{i - 1}'}}}\n"
            for i in range(14)
        ),
        ("rig.yaml", "alias bomb"),
    ),
    ("alias-loop-list", M + "x: &x [*x]\n", ("rig.yaml", "line 3", "loop")),
    ("alias-loop-mapping", "station: &s {name: n, more: *s}\n" + D, ("rig.yaml", "line 1", "loop")),
    (
        "deep-block-nesting",
        M + "x:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(80)),
        ("rig.yaml", "nested"),
    ),
    ("deep-flow-nesting", M + "x: " + "[" * 100 + "]" * 100 + "\n", ("rig.yaml", "nested")),
    ("very-deep-flow-nesting", "[" * 20000 + "]" * 20000, ("rig.yaml", "nested")),
    ("huge-file", M + ("# padding\n" * 200_000), ("rig.yaml", "too large")),
    ("huge-string", M + "x: " + "a" * 1_100_000 + "\n", ("rig.yaml", "too large")),
    # dut values
    ("endpoint-not-int", S + "dut: {endpoint: abc}\n", ("rig.yaml: dut.endpoint", "'abc'")),
    ("endpoint-too-big", S + "dut: {endpoint: 70000}\n", ("rig.yaml: dut.endpoint",)),
    ("endpoint-negative", S + "dut: {endpoint: -1}\n", ("rig.yaml: dut.endpoint",)),
    ("endpoint-float", S + "dut: {endpoint: 1.5}\n", ("rig.yaml: dut.endpoint",)),
    ("endpoint-list", S + "dut: {endpoint: [1]}\n", ("rig.yaml: dut.endpoint",)),
    ("node-id-zero", S + "dut: {node_id: 0}\n", ("rig.yaml: dut.node_id",)),
    ("node-id-huge", S + f"dut: {{node_id: {2**80}}}\n", ("rig.yaml: dut.node_id",)),
    ("passcode-forbidden", S + "dut: {passcode: 11111111}\n", ("rig.yaml: dut.passcode", "11111111")),
    ("passcode-too-long", S + "dut: {passcode: 123456789}\n", ("rig.yaml: dut.passcode",)),
    ("discriminator-13-bits", S + "dut: {discriminator: 4096}\n", ("rig.yaml: dut.discriminator",)),
    ("setup-code-garbage", S + "dut: {setup_code: 'MT:lower case'}\n", ("rig.yaml: dut.setup_code",)),
    ("setup-code-short", S + "dut: {setup_code: '1234'}\n", ("rig.yaml: dut.setup_code", "'1234'")),
    ("dut-kind-unknown", S + "dut: {kind: serial}\n", ("rig.yaml: dut.kind", "'serial'")),
    ("join-without-code", S + "dut: {commissioning: join}\n", ("rig.yaml: dut", "setup_code")),
    ("pixit-key-short", S + "dut: {pixit: {test_event_trigger_key: 'abcd'}}\n", ("dut.pixit.test_event_trigger_key",)),
    (
        "pixit-key-not-hex",
        S + "dut: {pixit: {test_event_trigger_key: '" + "z" * 32 + "'}}\n",
        ("test_event_trigger_key",),
    ),
    ("pixit-extra-list", S + "dut: {pixit: {extra: {a: [1]}}}\n", ("rig.yaml: dut.pixit.extra",)),
    ("pixit-extra-huge-int", S + f"dut: {{pixit: {{extra: {{a: {2**70}}}}}}}\n", ("rig.yaml: dut.pixit.extra",)),
    # numbers: finite and bounded
    ("timeout-zero", S + "dut: {timeouts: {event: 0}}\n", ("rig.yaml: dut.timeouts.event",)),
    ("timeout-negative", S + "dut: {timeouts: {event: -5}}\n", ("rig.yaml: dut.timeouts.event",)),
    ("timeout-yaml-inf", S + "dut: {timeouts: {event: .inf}}\n", ("rig.yaml: dut.timeouts.event", "finite")),
    ("timeout-yaml-nan", S + "dut: {timeouts: {command: .nan}}\n", ("rig.yaml: dut.timeouts.command", "finite")),
    ("timeout-text-inf", S + "dut: {timeouts: {event: inf}}\n", ("rig.yaml: dut.timeouts.event",)),
    ("timeout-text-infinity", S + "dut: {timeouts: {event: Infinity}}\n", ("rig.yaml: dut.timeouts.event",)),
    ("timeout-1e308", S + "dut: {timeouts: {commissioning: 1e308}}\n", ("rig.yaml: dut.timeouts.commissioning",)),
    ("timeout-1.0e308", S + "dut: {timeouts: {dut_start: 1.0e308}}\n", ("rig.yaml: dut.timeouts.dut_start",)),
    ("timeout-1e999", S + "dut: {timeouts: {event: 1.0e999}}\n", ("rig.yaml: dut.timeouts.event",)),
    ("timeout-two-days", S + "dut: {timeouts: {event: 172800}}\n", ("rig.yaml: dut.timeouts.event", "3600")),
    ("timeouts-scalar", S + "dut: {timeouts: 5}\n", ("rig.yaml: dut.timeouts",)),
    # virtual EVSE, report, station, stimulus
    ("feature-unknown", M + "virtual_evse: {features: [PREF, TURBO]}\n", ("rig.yaml: virtual_evse.features[1]",)),
    ("feature-twice", M + "virtual_evse: {features: [SOC, SOC]}\n", ("rig.yaml: virtual_evse.features", "SOC")),
    ("defect-unknown", M + "virtual_evse: {defects: [no-such-defect]}\n", ("virtual_evse.defects[0]",)),
    ("port-zero", M + "virtual_evse: {port: 0}\n", ("rig.yaml: virtual_evse.port",)),
    ("port-too-big", M + "virtual_evse: {port: 65536}\n", ("rig.yaml: virtual_evse.port",)),
    (
        "hardware-nan",
        M + "virtual_evse: {hardware: {circuitCapacity: .nan}}\n",
        ("virtual_evse.hardware.circuitCapacity",),
    ),
    ("hardware-huge", M + "virtual_evse: {hardware: {circuitCapacity: 1.0e300}}\n", ("virtual_evse.hardware",)),
    ("serial-too-long", M + "virtual_evse: {serial_number: " + "x" * 40 + "}\n", ("virtual_evse.serial_number",)),
    ("stimulus-unknown", M + "stimulus: robot\n", ("rig.yaml: stimulus", "'robot'")),
    ("tolerance-zero", M + "report: {energy_tolerance_pct: 0}\n", ("rig.yaml: report.energy_tolerance_pct",)),
    ("tolerance-over-100", M + "report: {energy_tolerance_pct: 101}\n", ("rig.yaml: report.energy_tolerance_pct",)),
    ("title-empty", M + "report: {title: ''}\n", ("rig.yaml: report.title",)),
    ("station-name-traversal", "station: {name: ../../etc}\n" + D, ("rig.yaml: station.name", "'../../etc'")),
    ("station-name-dot", "station: {name: .hidden}\n" + D, ("rig.yaml: station.name",)),
    ("station-name-long", "station: {name: " + "n" * 65 + "}\n" + D, ("rig.yaml: station.name",)),
    ("station-name-escape", 'station: {name: "\\e[31mred"}\n' + D, ("rig.yaml: station.name",)),
    # instruments
    ("role-not-identifier", M + "instruments: {1meter: {" + MODBUS + "}}}\n", ("rig.yaml: instruments", "'1meter'")),
    (
        "driver-unknown",
        M + "instruments: {m: {driver: acme_9000, transport: {kind: visa, resource: x}}}\n",
        ("rig.yaml: instruments.m.driver", "'acme_9000'"),
    ),
    (
        "transport-kind-unknown",
        M + "instruments: {m: {driver: eastron_sdm630, transport: {kind: carrier_pigeon}}}\n",
        ("rig.yaml: instruments.m.transport.kind", "'carrier_pigeon'"),
    ),
    (
        "transport-not-mapping",
        M + "instruments: {m: {driver: eastron_sdm630, transport: tcp}}\n",
        ("rig.yaml: instruments.m.transport",),
    ),
    (
        "transport-timeout-inf",
        M + "instruments: {m: {" + MODBUS + ", timeout_s: .inf}}}\n",
        ("rig.yaml: instruments.m.transport.timeout_s",),
    ),
    (
        "transport-timeout-1e308",
        M + "instruments: {m: {" + MODBUS + ", timeout_s: 1.0e308}}}\n",
        ("rig.yaml: instruments.m.transport.timeout_s",),
    ),
    ("transport-port-zero", M + "instruments: {m: {" + MODBUS + ", port: 0}}}\n", ("instruments.m.transport.port",)),
    ("transport-unit-300", M + "instruments: {m: {" + MODBUS + ", unit: 300}}}\n", ("instruments.m.transport.unit",)),
    (
        "transport-host-empty",
        M + "instruments: {m: {driver: eastron_sdm630, transport: {kind: modbus_tcp, host: ''}}}\n",
        ("instruments.m.transport.host",),
    ),
    ("params-inf", M + "instruments: {m: {" + MODBUS + "}, params: {gain: .inf}}}\n", ("instruments.m.params", "gain")),
    (
        "params-nested-nan",
        M + "instruments: {m: {" + MODBUS + "}, params: {a: [1, .nan]}}}\n",
        ("instruments.m.params",),
    ),
    (
        "params-huge-int",
        M + "instruments: {m: {" + MODBUS + "}, params: {slot: " + "9" * 30 + "}}}\n",
        ("instruments.m.params",),
    ),
    ("ev-emulator-unknown-role", M + "ev_emulator: {via: nothing}\n", ("rig.yaml: ev_emulator.via", "'nothing'")),
    (
        "ev-emulator-bad-current",
        M.replace(D, "dut: {}\n") + "ev_emulator: {via: x, ev_max_current_a: .inf}\n",
        ("rig.yaml", "ev_emulator"),
    ),
]

# (id, file content, environment, fragments)
ENV_CASES: list[tuple[str, str, dict[str, str | None], tuple[str, ...]]] = [
    (
        "env-unset",
        'station: {operator: "${RIG_ROBUST_UNSET}"}\n' + D,
        {"RIG_ROBUST_UNSET": None},
        ("rig.yaml: station.operator", "RIG_ROBUST_UNSET is not set"),
    ),
    ("env-unclosed", 'station: {operator: "${RIG_ROBUST_A"}\n' + D, {}, ("rig.yaml: station.operator", "not closed")),
    (
        "env-nested-inner-unset",
        'station: {operator: "${RIG_ROBUST_A:-${RIG_ROBUST_B}}"}\n' + D,
        {"RIG_ROBUST_A": None, "RIG_ROBUST_B": None},
        ("station.operator", "RIG_ROBUST_B is not set"),
    ),
    (
        "env-nested-unclosed",
        'station: {operator: "${RIG_ROBUST_A:-${RIG_ROBUST_B}"}\n' + D,
        {"RIG_ROBUST_A": None, "RIG_ROBUST_B": "b"},
        ("station.operator", "RIG_ROBUST_A is not closed"),
    ),
    (
        "env-nested-too-deep",
        'station: {operator: "' + "${RIG_ROBUST_A:-" * 12 + "x" + "}" * 12 + '"}\n' + D,
        {"RIG_ROBUST_A": None},
        ("station.operator", "nested more than"),
    ),
    (
        "env-makes-bad-number",
        "station: {}\ndut: {endpoint: '${RIG_ROBUST_EP}'}\n",
        {"RIG_ROBUST_EP": "1e308"},
        ("rig.yaml: dut.endpoint",),
    ),
    (
        "env-makes-inf-timeout",
        "station: {}\ndut: {timeouts: {event: '${RIG_ROBUST_T}'}}\n",
        {"RIG_ROBUST_T": "inf"},
        ("rig.yaml: dut.timeouts.event",),
    ),
    (
        "env-empty-default-used",
        "station: {}\ndut: {node_id: '${RIG_ROBUST_N:-}'}\n",
        {"RIG_ROBUST_N": ""},
        ("rig.yaml: dut.node_id",),
    ),
]


def _fifo(folder: Path) -> Path:
    path = folder / "rig.yaml"
    path.unlink()
    os.mkfifo(path)
    return path


def _loop(folder: Path) -> Path:
    (folder / "rig.yaml").unlink()
    (folder / "rig.yaml").symlink_to(folder / "other.yaml")
    (folder / "other.yaml").symlink_to(folder / "rig.yaml")
    return folder / "rig.yaml"


def _folder(folder: Path) -> Path:
    (folder / "rig.yaml").unlink()
    (folder / "rig.yaml").mkdir()
    return folder / "rig.yaml"


def _missing(folder: Path) -> Path:
    (folder / "rig.yaml").unlink()
    return folder / "rig.yaml"


def _dangling(folder: Path) -> Path:
    (folder / "rig.yaml").unlink()
    (folder / "rig.yaml").symlink_to(folder / "gone.yaml")
    return folder / "rig.yaml"


# (id, make the file, fragments)
SPECIAL_CASES: list[tuple[str, Callable[[Path], Path], tuple[str, ...]]] = [
    ("fifo", _fifo, ("rig.yaml", "FIFO")),
    ("symlink-loop", _loop, ("rig.yaml", "loop of symbolic links")),
    ("folder", _folder, ("rig.yaml", "is a folder")),
    ("missing", _missing, ("rig.yaml", "not found")),
    ("dangling-symlink", _dangling, ("gone.yaml", "not found")),
]


def _check(
    case_dir: Path, argv: list[str], fragments: tuple[str, ...], env: dict[str, str | None] | None = None
) -> None:
    before = snapshot(case_dir)
    outcome = run_rig(argv, cwd=case_dir, env=env)
    assert_refused(outcome, *fragments)
    assert snapshot(case_dir) == before, "the command wrote something"


@pytest.mark.parametrize(("content", "fragments"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_rig_yaml(case_dir: Path, content: str | bytes, fragments: tuple[str, ...]) -> None:
    path = case_dir / "rig.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    _check(case_dir, ["config", "check", "-c", str(path)], fragments)


@pytest.mark.parametrize(("content", "env", "fragments"), [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES])
def test_bad_environment_substitution(
    case_dir: Path, content: str, env: dict[str, str | None], fragments: tuple[str, ...]
) -> None:
    (case_dir / "rig.yaml").write_text(content, encoding="utf-8")
    _check(case_dir, ["config", "check"], fragments, env)


@pytest.mark.parametrize(("make", "fragments"), [c[1:] for c in SPECIAL_CASES], ids=[c[0] for c in SPECIAL_CASES])
def test_rig_yaml_that_is_no_file(case_dir: Path, make: Callable[[Path], Path], fragments: tuple[str, ...]) -> None:
    path = make(case_dir)
    _check(case_dir, ["config", "check", "-c", str(path)], fragments)
    _check(case_dir, ["run", "-c", str(path)], fragments)
