"""Install a firmware build with the vendor's flashing command (``dut.firmware.method: command``) instead of Matter OTA.

A lab bench may name the flasher the vendor ships (a serial, USB or JTAG tool) in ``dut.firmware.command``: an argv
run without a shell, whose words may hold placeholders (:data:`rig.config.schema.FIRMWARE_PLACEHOLDERS`). The
image is still a Matter OTA image (its header gives the vendor id, product id and the version to check); the flasher
gets the file (``{image}``) or its payload alone (``{payload}``: the vendor's binary, written to a file for the
flash and removed after it).

1. the DUT's Basic Information read on the session: an image for another vendor id or product id is refused (exit
   code 2); any software version goes, older ones included (a flasher also goes back);
2. the command run on the rig's machine (in the bench's network when the install holds a farm place), its output
   in ``flash.log`` in the install's folder, bounded by ``dut.firmware.timeout`` (then its process group is killed):
   a non-zero exit or the timeout fails the install (exit code 1) naming the program, its exit code and the last
   lines of its output;
3. the DUT awaited (the reboot timeout): reached again over CASE on a fresh session when the flasher keeps its fabrics
   (``keeps_fabrics: true``), else commissioned again with its passcode or setup code, as a factory-new device; then
   Basic Information read until it reports the image's SoftwareVersion.

The session's end is the same as for every session (the bench in its safe state, the rig's fabric handled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.config.schema import FIRMWARE_PLACEHOLDERS, command_placeholders
from rig.errors import RigError
from rig.firmware.image import OtaHeader, OtaImage
from rig.firmware.install import InstallFailed, Outcome, Progress, _Names, _names, check_image
from rig.report.text import terminal_safe

if TYPE_CHECKING:
    from rig.config import RigConfig
    from rig.config.schema import DutFirmware
    from rig.matter.ota import Versions
    from rig.session import Session

log = logging.getLogger(__name__)

LOG_NAME = "flash.log"
PAYLOAD_NAME = "flash-payload.bin"
KILL_GRACE_S = 5.0
"""After the timeout: SIGTERM to the flasher's process group, then SIGKILL this long after."""
TAIL_LINES = 6
POLL_S = 0.5


@dataclass(frozen=True)
class FlashResult:
    """A flasher that ended well: its exit code (0), how long it ran, where its output is."""

    seconds: float
    log: Path


def placeholder_values(image: OtaImage, node_id: int, payload: Path | None) -> dict[str, str]:
    """The value of each placeholder for ``image`` (``payload``: the payload's file, when the command names it)."""
    h = image.header
    values = {
        "image": str(image.path.resolve()),
        "payload": str(payload.resolve()) if payload is not None else "",
        "software_version": str(h.software_version),
        "software_version_string": h.software_version_string,
        "vendor_id": str(h.vendor_id),
        "product_id": str(h.product_id),
        "node_id": str(node_id),
    }
    assert set(values) == set(FIRMWARE_PLACEHOLDERS)
    return values


def uses(command: list[str] | tuple[str, ...], name: str) -> bool:
    """Whether a placeholder appears in the command."""
    return any(name in command_placeholders(word) for word in command)


def expand(command: list[str] | tuple[str, ...], values: dict[str, str]) -> list[str]:
    """The command's argv with its placeholders filled (each word stays one argument: no shell, no splitting)."""
    return [word.format_map(values) for word in command]


def program(argv: list[str] | tuple[str, ...]) -> str:
    """The command's first word as messages name it (its file name)."""
    return terminal_safe(Path(argv[0]).name or argv[0])


def _tail(log_path: Path, start: int, n: int = TAIL_LINES) -> str:
    """The last ``n`` non-empty lines the command wrote (from byte ``start`` of its log), inert for a terminal."""
    try:
        with log_path.open("rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(its output could not be read: {exc.strerror})"
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no output)"
    shown = " | ".join(terminal_safe(line)[:200] for line in lines[-n:])
    return ("... | " if len(lines) > n else "") + shown


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the command's process group, SIGKILL after :data:`KILL_GRACE_S`; the command reaped."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with contextlib.suppress(ProcessLookupError):  # what it left in its group
        os.killpg(proc.pid, signal.SIGKILL)


def run_flasher(argv: list[str], log_path: Path, timeout_s: float, *, what: str = "") -> FlashResult:
    """Run the flashing command, its output appended to ``log_path``, bounded by ``timeout_s``; the process group
    it made (a new session) is killed at the timeout and, after it ends, whatever it left in the group.

    Raises:
        InstallFailed: it could not be started, exited non-zero or ran out of time (stage ``flash``: the program, the
            exit code and the last lines of its output named). ``what`` is added to the message (the DUT, the image).
    """
    name = program(argv)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f": {what}" if what else ""
    with log_path.open("ab") as out:
        start = out.tell()
        out.write(f"$ {' '.join(argv)}\n".encode(errors="replace"))
        out.flush()
        start = out.tell()
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            raise InstallFailed(
                f"flash: the flashing command {name} could not be started ({exc.strerror}){suffix}"
            ) from None
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _end_group(proc)
            out.write(f"[rig] timed out after {timeout_s:g} s: process group killed\n".encode())
            raise InstallFailed(
                f"flash: the flashing command {name} did not end within {timeout_s:g} s (dut.firmware.timeout; its "
                f"process group was killed){suffix}; its last output: {_tail(log_path, start)}"
            ) from None
        except BaseException:
            _end_group(proc)
            raise
        _end_group(proc)
        took = time.monotonic() - t0
        out.write(f"[rig] exit code {code} after {took:.1f} s\n".encode())
    if code != 0:
        raise InstallFailed(
            f"flash: the flashing command {name} exited with code {code}{suffix}; its last output: "
            f"{_tail(log_path, start)}"
        )
    return FlashResult(took, log_path)


async def install_with_command(
    session: Session,
    image: OtaImage,
    *,
    workdir: Path,
    reboot_timeout_s: float = 180.0,
    progress: Progress | None = None,
) -> Outcome:
    """Install ``image`` with ``dut.firmware.command`` on the session's DUT and await it running the image's version.

    Raises:
        ImageRefused: another vendor id or product id (nothing was run).
        InstallFailed: the flasher failed or timed out (stage ``flash``), or the DUT did not come back running the
            image's version within ``reboot_timeout_s`` (stage ``reboot``).
    """
    from rig.matter import ota

    settings = session.config.dut.firmware
    show = progress or Progress()
    names = _names(session, image)
    node_id = session.config.dut.node_id
    node = session.controller.node(node_id, 0, timeout_s=10.0)
    t_start = time.monotonic()
    running = await ota.versions(node)
    outcome = Outcome(before=vars(running).copy(), image_bytes=image.size, method="command")
    check_image(image.header, running, any_version=True)
    direction = "a downgrade" if image.header.software_version < running.software_version else "an install"
    if image.header.software_version == running.software_version:
        direction = "the same version again"
    show.say(f"image: {image.header.describe()}")
    show.say(
        f"DUT runs {running.software_version} ({running.software_version_string!r}); {direction} with the flashing "
        f"command {program(settings.command)}"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    payload = workdir / PAYLOAD_NAME if uses(settings.command, "payload") else None
    argv = expand(settings.command, placeholder_values(image, node_id, payload))
    mark = time.monotonic()
    try:
        if payload is not None:
            payload.write_bytes(image.payload())
        what = f"{names.dut}, {names.image}"
        result = await asyncio.to_thread(run_flasher, argv, workdir / LOG_NAME, settings.timeout, what=what)
        outcome.stages["flash"] = result.seconds
        show.say(f"flashing command ended (exit code 0, {result.seconds:.1f} s); awaiting the DUT")
    finally:
        if payload is not None:
            payload.unlink(missing_ok=True)
    mark = time.monotonic()
    after = await await_flashed(session, image.header, settings, reboot_timeout_s, show, names)
    outcome.stages["reboot"] = time.monotonic() - mark
    outcome.after = vars(after).copy()
    if after.software_version_string != image.header.software_version_string:
        outcome.notes.append(
            f"SoftwareVersionString reads {after.software_version_string!r}, the image says "
            f"{image.header.software_version_string!r}"
        )
    outcome.total_s = time.monotonic() - t_start
    return outcome


async def await_flashed(
    session: Session,
    header: OtaHeader,
    settings: DutFirmware,
    timeout_s: float,
    show: Progress,
    names: _Names,
) -> Versions:
    """After the flasher: until the DUT reports the image's SoftwareVersion, within ``timeout_s``. A DUT that keeps
    its fabrics is reached on a fresh CASE session each time; one whose fabrics the flasher erased is commissioned
    again first (on-network, its passcode or setup code) and its fabric labelled as the session's.

    Raises:
        InstallFailed: stage ``reboot``, naming what was awaited and what was seen last.
    """
    from rig.matter import ota

    node_id = session.config.dut.node_id
    deadline = time.monotonic() + timeout_s
    node = session.controller.node(node_id, 0, timeout_s=2.0)
    node.expire_sessions()  # the DUT rebooted: its sessions are gone
    if not settings.keeps_fabrics:
        await _commission_again(session, deadline, timeout_s, show, names)
    last = "no answer yet"
    while True:
        attempt = time.monotonic()
        if attempt > deadline:
            break
        try:
            node.expire_sessions()
            await session.controller.connect(node_id, timeout_s=max(min(10.0, deadline - attempt), 1.0))
            now = await ota.versions(node)
        except ota.NO_ANSWER as exc:
            last = f"no answer: {exc}"
            await asyncio.sleep(POLL_S)
            continue
        if now.software_version == header.software_version:
            show.say(f"DUT answers on a new CASE session: {now.software_version} ({now.software_version_string!r})")
            return now
        last = f"it answers, running SoftwareVersion {now.software_version} ({now.software_version_string!r})"
        await asyncio.sleep(POLL_S)
    hint = (
        " (if the flasher erases the DUT's fabrics, set dut.firmware.keeps_fabrics: false)"
        if settings.keeps_fabrics and last.startswith("no answer")
        else ""
    )
    raise InstallFailed(
        f"reboot: {names.dut} did not report {names.image}'s SoftwareVersion {header.software_version} within "
        f"{timeout_s:g} s after the flashing command ended (last: {last}){hint}",
        dut_gone=last.startswith("no answer"),
    )


async def _commission_again(session: Session, deadline: float, timeout_s: float, show: Progress, names: _Names) -> None:
    """Commission the DUT again after a flasher erased its fabrics (bounded by ``deadline``); the station's record
    renewed, the fabric labelled ``rig:<station>``."""
    from rig.commissioning import reach_dut
    from rig.errors import DutError
    from rig.matter.fabrics import label_fabric, rig_label

    show.say("the flasher erased the DUT's fabrics (dut.firmware.keeps_fabrics: false): commissioning it again")
    last = "no commissionable DUT seen"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InstallFailed(
                f"reboot: {names.dut} was not commissioned again within {timeout_s:g} s after the flashing command "
                f"ended (last: {last}; if the flasher keeps the DUT's fabrics, set dut.firmware.keeps_fabrics: true)",
                dut_gone=True,
            )
        config = _recommissioning_config(session.config, max(remaining, 1.0))
        try:
            if session.station is not None:
                await reach_dut(config, session.controller, session.station)
            else:
                dut = config.dut
                await session.controller.commission(
                    dut.node_id,
                    passcode=dut.passcode,
                    discriminator=dut.discriminator,
                    setup_code=dut.setup_code,
                    timeout_s=dut.timeouts.commissioning,
                )
        except (DutError, RigError) as exc:
            last = str(exc)
            log.info("commissioning after the flash: %s", exc)
            await asyncio.sleep(POLL_S)
            continue
        root = session.controller.node(config.dut.node_id, 0, timeout_s=config.dut.timeouts.command)
        problem = await label_fabric(root, rig_label(config.station.name))
        if problem is not None:
            log.warning("the rig's fabric after the flash: %s", problem)
        show.say("DUT commissioned again")
        return


def _recommissioning_config(config: RigConfig, timeout_s: float) -> RigConfig:
    """rig.yaml for commissioning the erased DUT: on-network, with its own code (a ``join`` code was another admin's
    window, gone with the fabrics: then passcode and discriminator), bounded by ``timeout_s``."""
    dut = config.dut
    update: dict[str, Any] = {
        "commissioning": "on-network",
        "timeouts": dut.timeouts.model_copy(update={"commissioning": timeout_s}),
    }
    if dut.commissioning == "join":
        update["setup_code"] = None
    return config.model_copy(update={"dut": dut.model_copy(update=update)})
