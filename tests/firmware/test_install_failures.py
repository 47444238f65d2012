"""How `rig firmware install` tells a DUT that refuses an image, one that never applies it and one that does not come
back (rig.firmware.install), without a DUT: the DUT's OTA Requestor events (Matter Core 11.20.7.7) and a scripted DUT
behind the apply/reboot stages. The same faults on the virtual EVSE, end to end: tests/e2e/test_ota_bad_input.py."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rig.errors import DutUnreachable
from rig.firmware import install as inst
from rig.firmware.image import OtaHeader, read_image
from rig.matter import ota
from rig.matter.ota import RequestorEvent, Versions

NAMES = inst._Names("the DUT (node 0x1001)", "image v2.ota (SoftwareVersion 2, '2.0.0')")


def _transition(number: int, before: str, after: str, reason: str) -> RequestorEvent:
    fields = {"PreviousState": before, "NewState": after, "Reason": reason, "TargetSoftwareVersion": None}
    return RequestorEvent(number, "StateTransition", fields)


def test_a_download_error_is_a_refusal_naming_the_dut_the_image_and_what_it_said() -> None:
    events = [
        _transition(5, "Querying", "Downloading", "Success"),
        RequestorEvent(
            6,
            "DownloadError",
            {"SoftwareVersion": 2, "BytesDownloaded": 200, "ProgressPercent": 0, "PlatformCode": 5},
        ),
        _transition(7, "Downloading", "Idle", "Failure"),
    ]
    with pytest.raises(inst.InstallFailed) as failed:
        inst._refusal(events, "download", NAMES)
    text = str(failed.value)
    assert text.startswith("download: the DUT (node 0x1001) rejected image v2.ota (SoftwareVersion 2, '2.0.0')")
    assert "PlatformCode 5" in text and "Downloading -> Idle, reason Failure" in text
    assert "Querying -> Downloading" not in text  # only what failed
    assert failed.value.exit_code == 1 and not failed.value.dut_gone


def test_a_return_to_idle_for_a_failure_before_any_download_names_the_stage() -> None:
    with pytest.raises(inst.InstallFailed, match=r"^query: the DUT \(node 0x1001\) gave up on image v2\.ota"):
        inst._refusal([_transition(3, "Querying", "Idle", "TimeOut")], "query", NAMES)


def test_progress_and_success_are_no_refusal() -> None:
    inst._refusal(
        [_transition(1, "Idle", "Querying", "Success"), _transition(2, "Querying", "Downloading", "Success")],
        "query",
        NAMES,
    )
    inst._refusal([_transition(3, "Applying", "Idle", "Success")], "download", NAMES)


def test_event_descriptions_show_dut_strings_escaped() -> None:
    event = RequestorEvent(1, "DownloadError", {"SoftwareVersion": 2, "PlatformCode": "\x1b[31mred\n"})
    assert "\x1b" not in event.describe() and "\n" not in event.describe()


# -- the apply and reboot stages against a scripted DUT ------------------------------------------------------------
@dataclass
class ScriptedDut:
    """Answers (a Versions) or does not (None) per attempt; the last entry repeats."""

    script: list[Versions | None]
    attempts: int = 0
    fresh_sessions: int = 0
    log: list[str] = field(default_factory=list)

    def next(self) -> Versions:
        answer = self.script[min(self.attempts, len(self.script) - 1)]
        self.attempts += 1
        if answer is None:
            raise DutUnreachable("node 0x1001 gave no CASE session within 1 s")
        return answer


class FakeNode:
    node_id = 0x1001

    def __init__(self, dut: ScriptedDut) -> None:
        self.dut = dut

    def expire_sessions(self) -> None:
        self.dut.fresh_sessions += 1


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def make(script: list[Versions | None]) -> tuple[Any, ScriptedDut]:
        dut = ScriptedDut(script)

        async def versions(node: FakeNode) -> Versions:
            return node.dut.next()

        async def requestor_state(node: FakeNode, endpoint: int) -> ota.RequestorState:
            return ota.RequestorState("Idle", None)

        async def connect(node_id: int, timeout_s: float = 30.0) -> float:
            return 0.0

        monkeypatch.setattr(ota, "versions", versions)
        monkeypatch.setattr(ota, "requestor_state", requestor_state)
        controller = SimpleNamespace(node=lambda *a, **k: FakeNode(dut), connect=connect)
        session = SimpleNamespace(controller=controller, config=SimpleNamespace(dut=SimpleNamespace(node_id=0x1001)))
        return session, dut

    monkeypatch.setattr(inst, "POLL_S", 0.001)
    yield make


OLD = Versions(0xFFF1, 0x8000, 1, "1.0.0")
NEW = Versions(0xFFF1, 0x8000, 2, "2.0.0")


def _await(session: Any, header: OtaHeader, *, gone: bool = False) -> Versions:
    t = inst.Timeouts(apply=0.2, reboot=0.2)
    return asyncio.run(
        inst._await_new_version(session, header, t, inst.Progress(out=_Sink()), lambda _: None, NAMES, gone=gone)
    )


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


@pytest.fixture(scope="module")
def header(tmp_path_factory: pytest.TempPathFactory) -> OtaHeader:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    from rig.sim.ota_image import build_virtual_evse_image

    path: Path = tmp_path_factory.mktemp("ota") / "v2.ota"
    build_virtual_evse_image(
        path, vendor_id=0xFFF1, product_id=0x8000, software_version=2, software_version_string="2.0.0", defects=[]
    )
    return read_image(path).header


def test_a_reboot_into_the_image_is_followed_to_the_new_version(scripted: Any, header: OtaHeader) -> None:
    session, dut = scripted([OLD, None, None, NEW])
    assert _await(session, header) == NEW
    assert dut.fresh_sessions >= 2  # once gone, every attempt on a fresh CASE session


def test_a_dut_that_keeps_running_the_old_build_fails_the_apply_stage(scripted: Any, header: OtaHeader) -> None:
    session, dut = scripted([OLD])
    with pytest.raises(inst.InstallFailed) as failed:
        _await(session, header)
    text = str(failed.value)
    assert text.startswith("apply: the DUT (node 0x1001) never rebooted into image v2.ota")
    assert "running SoftwareVersion 1 ('1.0.0')" in text and "UpdateState Idle" in text
    assert not failed.value.dut_gone and dut.fresh_sessions == 0


def test_a_dut_that_comes_back_on_the_old_build_is_in_the_apply_stage_again(scripted: Any, header: OtaHeader) -> None:
    session, _ = scripted([None, OLD])
    with pytest.raises(inst.InstallFailed, match=r"^apply: .*came back on the old build"):
        _await(session, header)


def test_a_dut_that_does_not_come_back_fails_the_reboot_stage(scripted: Any, header: OtaHeader) -> None:
    session, _ = scripted([None])
    with pytest.raises(inst.InstallFailed) as failed:
        _await(session, header, gone=True)
    text = str(failed.value)
    assert text.startswith("reboot: the DUT (node 0x1001) did not come back running image v2.ota")
    assert "SoftwareVersion 2 awaited" in text and "no CASE session" in text
    assert failed.value.dut_gone
