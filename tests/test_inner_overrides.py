"""`rig run --set` values reach the inner pytest through its environment, never its command line (another local
user can read a process's command line with ps, not its environment): a passcode or PIXIT key stays private."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import rig.cli.run
from rig.cli import main as rig_main
from rig.pytest_plugin.state import INNER_SET_ENV

ROOT = Path(__file__).resolve().parents[1]


def test_set_values_travel_in_the_environment_not_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def capture(_cfg: object, argv: list[str], **_kwargs: object) -> int:
        seen["argv"] = list(argv)
        seen["env"] = os.environ.get(INNER_SET_ENV)
        return 5  # as pytest's "no tests collected": nothing ran

    monkeypatch.setattr(rig.cli.run, "run_in_sandbox", capture)
    monkeypatch.setattr(rig.cli.run.report_cli, "after_run", lambda *_a, **_k: None)
    monkeypatch.delenv(INNER_SET_ENV, raising=False)
    secret = "00112233445566778899aabbccddeeff"
    rig_main(
        [
            "run",
            "--config",
            str(ROOT / "rig.yaml"),
            "--set",
            f"dut.pixit.test_event_trigger_key={secret}",
            "--set",
            "report.dir=" + str(tmp_path),
            "--tc",
            "TC-EEVSE-1.1",
        ]
    )
    assert seen, "the run did not reach the sandbox"
    assert not any(secret in a for a in seen["argv"]) and "--rig-set" not in seen["argv"]
    handed = json.loads(seen["env"])
    assert handed["dut.pixit.test_event_trigger_key"] == secret
    monkeypatch.delenv(INNER_SET_ENV, raising=False)


@pytest.mark.parametrize(
    ("given", "paths", "passed"),
    [
        (["--", "-x"], [], ["-x"]),
        (["suites/hil", "--", "-x", "--maxfail", "2"], ["suites/hil"], ["-x", "--maxfail", "2"]),
    ],
)
def test_arguments_after_a_double_dash_go_to_pytest_not_to_the_suite_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: list[str], paths: list[str], passed: list[str]
) -> None:
    seen: dict[str, list[str]] = {}

    def capture(_cfg: object, argv: list[str], **_kwargs: object) -> int:
        seen["argv"] = list(argv)
        return 5

    monkeypatch.setattr(rig.cli.run, "run_in_sandbox", capture)
    monkeypatch.setattr(rig.cli.run.report_cli, "after_run", lambda *_a, **_k: None)
    rig_main(["run", "--config", str(ROOT / "rig.yaml"), "--set", "report.dir=" + str(tmp_path), *given])
    argv = seen["argv"]
    suites = [str(ROOT / p) for p in (paths or rig.cli.run.DEFAULT_SUITES)]
    assert argv[-len(suites) - len(passed) :] == passed + suites, f"pytest options and suite paths mixed up: {argv}"
    monkeypatch.delenv(INNER_SET_ENV, raising=False)


def test_arguments_after_a_double_dash_are_refused_by_other_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        rig_main(["report", "render", "x", "--", "-x"])
    assert exit_info.value.code == 2
    assert "passed to pytest by `rig run` only" in capsys.readouterr().err
