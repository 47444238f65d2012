"""The vendor's flashing command (rig.firmware.flash, ``dut.firmware.method: command``) without a DUT: its argv and
placeholders, the runner's bounds (a non-zero exit, a timeout killing the process group, a program that cannot
start), the checks that change with a flasher (any version, builds in any order for ``rig regress``), and the wait
for the DUT after it against a scripted DUT. End to end on ``rig sim dut``: tests/e2e/test_flash_command.py."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rig.cli.firmware import flasher_paths
from rig.cli.regress import check_images
from rig.config.schema import FIRMWARE_PLACEHOLDERS, DutFirmware
from rig.errors import ConfigError
from rig.firmware import flash
from rig.firmware.image import read_image
from rig.firmware.install import ImageRefused, InstallFailed, Progress, _Names, check_image
from rig.matter import ota
from rig.matter.ota import Versions
from rig.sim.ota_image import build_virtual_evse_image

NAMES = _Names("the DUT (node 0x1001)", "image v2.ota (SoftwareVersion 2, '2.0.0')")
PY = sys.executable


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("images")
    made = {}
    for version in (2, 3):
        path = folder / f"v{version}.ota"
        build_virtual_evse_image(
            path,
            vendor_id=0xFFF1,
            product_id=0x8000,
            software_version=version,
            software_version_string=f"{version}.0.0",
            defects=[],
        )
        made[version] = path
    return made


# -- placeholders -------------------------------------------------------------------------------------------------
def test_placeholders_are_filled_word_by_word_without_a_shell(images: dict[int, Path], tmp_path: Path) -> None:
    image = read_image(images[3])
    payload = tmp_path / "payload.bin"
    values = flash.placeholder_values(image, 0x3001, payload)
    assert set(values) == set(FIRMWARE_PLACEHOLDERS)
    command = ["vendor-flash", "--image={image}", "{payload}", "v{software_version} {software_version_string}",
               "{{literal}}", "--node", "{node_id}", "$(rm -rf /)"]  # fmt: skip
    argv = flash.expand(command, values)
    assert argv == [
        "vendor-flash",
        f"--image={images[3].resolve()}",
        str(payload.resolve()),
        "v3 3.0.0",  # one argument: nothing is split
        "{literal}",
        "--node",
        str(0x3001),
        "$(rm -rf /)",  # no shell: passed as it is
    ]
    assert flash.uses(command, "payload") and not flash.uses(["x", "{image}"], "payload")


# -- the runner -----------------------------------------------------------------------------------------------------
def test_a_flasher_that_succeeds_leaves_its_output_in_the_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "flash.log"
    result = flash.run_flasher([PY, "-c", "print('erasing'); print('writing 100%')"], log, 30.0)
    text = log.read_text()
    assert "erasing\nwriting 100%\n" in text and "[rig] exit code 0" in text
    assert result.log == log and result.seconds < 30


def test_a_non_zero_exit_fails_naming_the_program_its_code_and_its_last_lines_escaped(tmp_path: Path) -> None:
    script = (
        "import sys\nfor i in range(10): print(f'line {i}')\nprint('\\x1b[31mno board on /dev/ttyUSB0')\nsys.exit(4)"
    )
    with pytest.raises(InstallFailed) as failed:
        flash.run_flasher([PY, "-c", script], tmp_path / "flash.log", 30.0, what="the DUT (node 0x1001)")
    text = str(failed.value)
    assert text.startswith(f"flash: the flashing command {Path(PY).name} exited with code 4: the DUT (node 0x1001)")
    assert "line 9 | \\x1b[31mno board on /dev/ttyUSB0" in text, text
    assert "line 0" not in text and "... | " in text  # the last lines only
    assert "\x1b" not in text and "\n" not in text
    assert failed.value.exit_code == 1


def test_a_flasher_that_runs_too_long_is_killed_with_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # the flasher starts a helper in its group and both hang
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('waiting for the board', flush=True)\n"
        "time.sleep(300)\n"
    )
    t0 = time.monotonic()
    with pytest.raises(InstallFailed) as failed:
        flash.run_flasher([PY, "-c", script], tmp_path / "flash.log", 2.0)
    took = time.monotonic() - t0
    text = str(failed.value)
    assert "did not end within 2 s" in text and "process group was killed" in text
    assert "waiting for the board" in text
    assert took < 2.0 + flash.KILL_GRACE_S + 5, f"the timeout took {took:.1f} s"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:  # reaped by init once killed
        status = Path(f"/proc/{child}/status").read_text() if Path(f"/proc/{child}").exists() else ""
        if "State:\tZ" in status:
            break
        time.sleep(0.1)
    alive = Path(f"/proc/{child}/status").read_text() if Path(f"/proc/{child}").exists() else "State:\tgone"
    assert "State:\tZ" in alive or "gone" in alive, f"the flasher's helper {child} survived the timeout: {alive[:80]}"
    assert "[rig] timed out after 2 s" in (tmp_path / "flash.log").read_text()


def test_a_program_that_cannot_start_fails_the_install(tmp_path: Path) -> None:
    with pytest.raises(InstallFailed, match=r"^flash: the flashing command no-such-flasher could not be started"):
        flash.run_flasher([str(tmp_path / "no-such-flasher")], tmp_path / "flash.log", 5.0)


def test_the_program_is_checked_before_anything_starts_and_its_paths_stay_visible(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dut\.firmware\.command: .*'no-such-flasher-xyz' is not found on PATH"):
        flasher_paths(["no-such-flasher-xyz", "{image}"])
    state = tmp_path / "dut"
    state.mkdir()
    paths = flasher_paths([PY, "--state", str(state), f"--port={tmp_path}/missing/tty", "{image}", "-v"])
    assert state in paths and tmp_path in paths


# -- what a flasher may install -------------------------------------------------------------------------------------
def test_a_flasher_installs_any_version_but_not_another_product(images: dict[int, Path]) -> None:
    header = read_image(images[2]).header
    running = Versions(0xFFF1, 0x8000, 3, "3.0.0")
    with pytest.raises(ImageRefused, match=r"SoftwareVersion: .* not newer"):
        check_image(header, running)
    check_image(header, running, any_version=True)  # a downgrade
    with pytest.raises(ImageRefused, match="ProductID"):
        check_image(header, Versions(0xFFF1, 0x8001, 1, "1.0.0"), any_version=True)


def test_regress_takes_builds_in_any_order_and_an_older_restore_with_a_flasher(images: dict[int, Path]) -> None:
    v2, v3 = str(images[2]), str(images[3])
    with pytest.raises(ConfigError, match=r"not newer than .*with dut\.firmware\.method: command"):
        check_images([v3], v2)
    got = check_images([v3, v2], v2, any_order=True)
    assert [h.software_version for _, h in got] == [3, 2, 2]


# -- awaiting the DUT after the flasher -----------------------------------------------------------------------------
class ScriptedDut:
    """Answers (or not) in turn: a Versions, or None for no answer."""

    def __init__(self, script: list[Versions | None]) -> None:
        self.script = script
        self.asked = 0

    def next(self) -> Versions:
        step = self.script[min(self.asked, len(self.script) - 1)]
        self.asked += 1
        if step is None:
            raise ota.NO_ANSWER[0]("no answer")
        return step


def _session(dut: ScriptedDut) -> Any:
    async def connect(node_id: int, timeout_s: float = 30.0) -> float:
        return 0.0

    node = SimpleNamespace(expire_sessions=lambda: None, node_id=0x1001, dut=dut)
    controller = SimpleNamespace(node=lambda *a, **k: node, connect=connect)
    config = SimpleNamespace(dut=SimpleNamespace(node_id=0x1001))
    return SimpleNamespace(controller=controller, config=config)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    async def versions(node: Any) -> Versions:
        return node.dut.next()  # type: ignore[no-any-return]

    monkeypatch.setattr(ota, "versions", versions)
    monkeypatch.setattr(flash, "POLL_S", 0.01)


class Quiet(Progress):
    def __init__(self) -> None:
        super().__init__(out=SimpleNamespace(write=lambda _t: None, flush=lambda: None, isatty=lambda: False))


def test_the_dut_is_awaited_until_it_reports_the_image_version(scripted: None, images: dict[int, Path]) -> None:
    header = read_image(images[2]).header
    dut = ScriptedDut([None, None, Versions(0xFFF1, 0x8000, 3, "3.0.0"), Versions(0xFFF1, 0x8000, 2, "2.0.0")])
    got = asyncio.run(flash.await_flashed(_session(dut), header, DutFirmware(), 10.0, Quiet(), NAMES))
    assert got.software_version == 2 and dut.asked == 4


def test_a_dut_that_never_reports_the_image_version_fails_at_the_reboot_bound(
    scripted: None, images: dict[int, Path]
) -> None:
    header = read_image(images[2]).header
    dut = ScriptedDut([Versions(0xFFF1, 0x8000, 3, "3.0.0")])
    with pytest.raises(InstallFailed) as failed:
        asyncio.run(flash.await_flashed(_session(dut), header, DutFirmware(), 0.3, Quiet(), NAMES))
    text = str(failed.value)
    assert text.startswith("reboot: the DUT (node 0x1001) did not report image v2.ota")
    assert "SoftwareVersion 2 within 0.3 s" in text and "running SoftwareVersion 3 ('3.0.0')" in text
    assert not failed.value.dut_gone
    silent = ScriptedDut([None])
    with pytest.raises(InstallFailed, match=r"set dut\.firmware\.keeps_fabrics: false") as gone:
        asyncio.run(flash.await_flashed(_session(silent), header, DutFirmware(), 0.3, Quiet(), NAMES))
    assert gone.value.dut_gone


def test_an_erased_dut_is_commissioned_on_network_with_its_own_code() -> None:
    from rig.config import config_from_dict

    cfg = config_from_dict(
        {
            "station": {},
            "dut": {
                "kind": "network",
                "attestation": "allow-test-paa",
                "commissioning": "join",
                "setup_code": "34970112332",
                "firmware": {"method": "command", "command": ["x", "{image}"], "keeps_fabrics": False},
            },
        },
        base_dir=Path.cwd(),
    )
    again = flash._recommissioning_config(cfg, 42.0)
    assert again.dut.commissioning == "on-network" and again.dut.setup_code is None
    assert again.dut.timeouts.commissioning == 42.0 and again.dut.passcode == cfg.dut.passcode
    assert again.dut.firmware == cfg.dut.firmware and again.station == cfg.station


# -- the virtual bench's flasher against rig sim dut's control channel (a stand-in EVSE process) ---------------------
class FakeEvse:
    """What the control channel switches: a process that is on or off, and its storage."""

    def __init__(self, storage: Path) -> None:
        self.settings = SimpleNamespace(storage_path=storage)
        self.on = True
        self.switched: list[str] = []
        self.proc = SimpleNamespace(pid=4242)

    @property
    def running(self) -> bool:
        return self.on

    def power_off(self) -> None:
        self.on = False
        self.switched.append("off")

    def power_on(self) -> None:
        self.on = True
        self.switched.append("on")

    def wait_ready(self) -> dict[str, Any]:
        return {"ready": True}


@pytest.fixture
def served(tmp_path: Path) -> Any:
    from rig.sim.dut_server import DutServer, DutServerOptions

    state = tmp_path / "dut"
    (state / "storage").mkdir(parents=True)
    server = DutServer(DutServerOptions(state=state, control=True))
    evse = FakeEvse(state / "storage")
    server.evse = evse  # type: ignore[assignment]
    server._open_control()
    yield server, evse, state
    server.close()
    assert not (state / "control.sock").exists(), "the control socket was left behind"


def test_rig_sim_flash_powers_off_writes_the_build_and_powers_on(served: Any, images: dict[int, Path]) -> None:
    from rig.sim.dut_server import flash_main

    server, evse, state = served
    (state / "storage" / "fabrics").write_text("the rig's fabric")
    assert flash_main(str(images[3]), str(state), erase=False) == 0
    assert evse.switched == ["off", "on"] and evse.on and not server.held_off
    build = json.loads((state / "storage" / "vevse-build.json").read_text())
    assert build["softwareVersion"] == 3 and build["softwareVersionString"] == "3.0.0"
    assert (state / "storage" / "fabrics").exists(), "a flash without --erase keeps the storage"
    assert flash_main(str(images[2]), str(state), erase=True) == 0  # any version: a downgrade
    assert json.loads((state / "storage" / "vevse-build.json").read_text())["softwareVersion"] == 2
    assert sorted(p.name for p in (state / "storage").iterdir()) == ["vevse-build.json"], "--erase left storage"


def test_a_control_client_that_leaves_with_the_evse_off_has_it_powered_on(served: Any) -> None:
    from rig.sim.dut_server import ControlChannel

    server, evse, state = served
    channel = ControlChannel(state)
    assert channel.request("power-off", 10.0)["storage"] == str(state / "storage")
    assert channel.request("status", 10.0) == {"ok": True, "on": False, "down": False}
    assert channel.request("reboot", 10.0)["error"].startswith("unknown op 'reboot'; known: power-off")
    channel.close()  # a flasher killed half way
    deadline = time.monotonic() + 10
    while evse.switched != ["off", "on"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert evse.switched == ["off", "on"] and not server.held_off, evse.switched


def test_rig_sim_flash_without_a_server_is_bad_input(tmp_path: Path, images: dict[int, Path], capsys: Any) -> None:
    from rig.sim.dut_server import flash_main

    assert flash_main(str(images[3]), str(tmp_path), erase=False) == 2
    assert "no `rig sim dut` serves this folder" in capsys.readouterr().err
