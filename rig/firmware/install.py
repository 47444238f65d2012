"""Install a firmware build on the DUT over Matter OTA (Matter Core specification, section 11.20 OTA Software Update),
the way every Matter device can be updated, whatever its vendor.

1. the image's header (vendor id, product id, software version, applicable range; its digest checked when it was
   read) against the DUT's Basic Information: a mismatch, or an image not newer than the running version, is refused
   naming the field (exit code 2), before anything is started;
2. an OTA Provider node serving the image (:mod:`rig.firmware.provider`) started on the bench network,
   commissioned into the station's fabric and given an ACL entry that lets the DUT's node (CASE) operate its
   provider cluster;
3. ``AnnounceOTAProvider`` on the DUT's OTA Requestor, then its ``UpdateState`` / ``UpdateStateProgress`` followed
   (querying, downloading with a progress bar, applying);
4. the reboot awaited (a new CASE session) and Basic Information read until it reports the new software version;
5. whatever happens: the provider removed from the fabric (``RemoveFabric``) and stopped, and the DUT's
   ``DefaultOTAProviders`` written back if it changed. The rig's own fabric is the session's business.

Every stage is bounded by its own timeout and a timeout names what was awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.errors import ConfigError, DutError, RigError
from rig.firmware.image import OtaHeader, OtaImage
from rig.firmware.provider import OtaProvider, ProviderSettings

if TYPE_CHECKING:
    from rig.matter.ota import Versions
    from rig.session import Session

log = logging.getLogger(__name__)

PROVIDER_NODE_ID = 0x0000_0000_0F7A_0001
"""The provider's node id on the station's fabric (while an install lasts)."""
PROVIDER_VENDOR_ID = 0xFFF1
POLL_S = 0.2


class ImageRefused(ConfigError):
    """The image does not fit the DUT (exit code 2); the message names the field."""


class InstallFailed(RigError):
    """The install did not end with the new version running (exit code 1); the message names the stage."""

    exit_code = 1


@dataclass(frozen=True)
class Timeouts:
    """Bounds of each stage, s."""

    provider: float = 30.0
    """the provider up and commissioned"""
    query: float = 660.0
    """announcement until the download starts (a requestor may wait up to 10 minutes after an announcement)"""
    download: float = 600.0
    apply: float = 120.0
    """download done until the DUT stops answering or reports the new version"""
    reboot: float = 180.0
    """until the DUT answers again on a new CASE session with the new version"""


@dataclass
class Outcome:
    """What an install did."""

    before: dict[str, Any]
    after: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0
    image_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "before": self.before,
            "after": self.after,
            "stages_s": {k: round(v, 3) for k, v in self.stages.items()},
            "total_s": round(self.total_s, 3),
            "image_bytes": self.image_bytes,
            "notes": list(self.notes),
        }


def check_image(header: OtaHeader, running: Versions) -> None:
    """Refuse an image that does not fit the DUT, naming the field.

    Raises:
        ImageRefused: VendorID, ProductID, SoftwareVersion (not newer) or the applicable range.
    """
    if header.vendor_id != running.vendor_id:
        raise ImageRefused(
            f"VendorID: the image is for vendor 0x{header.vendor_id:04X}, the DUT reports 0x{running.vendor_id:04X}"
        )
    if header.product_id != running.product_id:
        raise ImageRefused(
            f"ProductID: the image is for product 0x{header.product_id:04X}, the DUT reports 0x{running.product_id:04X}"
        )
    if header.software_version <= running.software_version:
        raise ImageRefused(
            f"SoftwareVersion: the image holds {header.software_version} ({header.software_version_string!r}), not "
            f"newer than the DUT's {running.software_version} ({running.software_version_string!r})"
        )
    low, high = header.min_applicable, header.max_applicable
    if (low is not None and running.software_version < low) or (high is not None and running.software_version > high):
        raise ImageRefused(
            f"MinApplicableSoftwareVersion/MaxApplicableSoftwareVersion: the image applies to {low}..{high}, the DUT "
            f"runs {running.software_version}"
        )


class Progress:
    """The stages and the download's progress on the terminal (a bar on a terminal, a line per 10 % otherwise)."""

    def __init__(self, out: Any = sys.stderr) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self._last: tuple[str, int | None] = ("", None)

    def say(self, text: str) -> None:
        """One line."""
        if self.tty and self._last[1] is not None:
            self.out.write("\n")
        self.out.write(f"firmware: {text}\n")
        self.out.flush()
        self._last = ("", None)

    def state(self, state: str, percent: int | None) -> None:
        """The requestor's state and progress."""
        if (state, percent) == self._last:
            return
        if percent is None or state != "Downloading":
            if state != self._last[0]:
                self.say(f"DUT: {state}" + (f" {percent} %" if percent is not None else ""))
            self._last = (state, None)
            return
        bar = "#" * (percent // 4) + "." * (25 - percent // 4)
        if self.tty:
            self.out.write(f"\rfirmware: DUT: Downloading [{bar}] {percent:3d} %")
            self.out.flush()
        elif self._last[0] != state or (self._last[1] or 0) // 10 != percent // 10:
            self.out.write(f"firmware: DUT: Downloading [{bar}] {percent:3d} %\n")
            self.out.flush()
        self._last = (state, percent)


async def install(
    session: Session,
    image: OtaImage,
    *,
    workdir: Path,
    timeouts: Timeouts | None = None,
    requestor_endpoint: int = 0,
    provider_port: int = 5550,
    progress: Progress | None = None,
) -> Outcome:
    """Install ``image`` on the session's DUT over Matter OTA (see the module docstring).

    Raises:
        ImageRefused: the image does not fit the DUT (nothing was started).
        InstallFailed: a stage failed or timed out (its name and what was awaited in the message).
        DutError: the DUT has no OTA Requestor, or its requestor is busy.
    """
    from rig.matter import ota

    t = timeouts or Timeouts()
    show = progress or Progress()
    node = session.controller.node(session.config.dut.node_id, requestor_endpoint, timeout_s=10.0)
    polled = session.controller.node(session.config.dut.node_id, requestor_endpoint, timeout_s=2.0)
    t_start = time.monotonic()
    running = await ota.versions(node)
    outcome = Outcome(before=vars(running).copy(), image_bytes=image.size)
    check_image(image.header, running)
    if not await ota.has_requestor(node, requestor_endpoint):
        raise DutError(
            f"the DUT has no OTA Software Update Requestor cluster on endpoint {requestor_endpoint}: it cannot be "
            "updated over Matter OTA (name the endpoint with --requestor-endpoint, or flash it the vendor's way)"
        )
    state = await ota.requestor_state(node, requestor_endpoint)
    if state.state != "Idle":
        raise DutError(f"the DUT's OTA Requestor is {state.state}, not Idle: an update is under way; try again later")
    defaults = await ota.default_providers(node, requestor_endpoint)
    show.say(f"image: {image.header.describe()}")
    show.say(f"DUT runs {running.software_version} ({running.software_version_string!r}); installing over Matter OTA")

    provider = OtaProvider(
        ProviderSettings(image.path, workdir / "ota-provider", provider_port, session.sandbox.device_iface),
        start_timeout_s=t.provider,
    )
    mark = time.monotonic()

    def stage(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        outcome.stages[name] = now - mark
        mark = now

    commissioned = False
    try:
        await asyncio.to_thread(provider.start)
        s = provider.settings
        await session.controller.commission(
            PROVIDER_NODE_ID, passcode=s.passcode, discriminator=s.discriminator, timeout_s=t.provider
        )
        commissioned = True
        provider_node = session.controller.node(PROVIDER_NODE_ID, 0, timeout_s=10.0)
        await ota.grant_requestor(provider_node, session.config.dut.node_id)
        stage("provider")
        took = outcome.stages["provider"]
        show.say(f"OTA provider up and commissioned as node 0x{PROVIDER_NODE_ID:x} ({took:.1f} s)")
        await ota.announce_provider(
            node, requestor_endpoint, provider_node_id=PROVIDER_NODE_ID, vendor_id=PROVIDER_VENDOR_ID
        )
        await _follow(polled, requestor_endpoint, provider, image.header, t, show, stage)
        after = await _await_new_version(session, image.header, t, show)
        stage("reboot")
        outcome.after = vars(after).copy()
        if after.software_version_string != image.header.software_version_string:
            outcome.notes.append(
                f"SoftwareVersionString reads {after.software_version_string!r}, the image says "
                f"{image.header.software_version_string!r}"
            )
    finally:
        outcome.notes += await _leave_as_found(session, node, requestor_endpoint, defaults, provider, commissioned)
    outcome.total_s = time.monotonic() - t_start
    return outcome


async def _follow(
    node: Any,
    endpoint: int,
    provider: OtaProvider,
    header: OtaHeader,
    t: Timeouts,
    show: Progress,
    stage: Callable[[str], None],
) -> None:
    """From the announcement until the DUT applies the image (or reboots); each stage bounded.

    Two witnesses: the DUT's UpdateState / UpdateStateProgress, and the provider's own account (the query, the BDX
    transfer's progress, the ApplyUpdateRequest). A DUT may hold its attributes back while it downloads (matter.js
    commits them when its whole query-download-apply ends), so the provider's account keeps the bar moving.
    """
    from rig.matter import ota

    phase, deadline = "query", time.monotonic() + t.query
    awaited = {
        "query": "the DUT to query the provider and start the download",
        "download": "the download to end and the DUT to ask to apply it (ApplyUpdateRequest)",
    }
    downloading = False  # by either witness
    dut_downloading = False  # the DUT's own UpdateState said so
    last = "no answer yet"

    def to_download() -> None:
        nonlocal phase, deadline, downloading
        if phase == "query":
            stage("query")
            phase, deadline = "download", time.monotonic() + t.download
        downloading = True

    while True:
        for event in _provider_events(provider):
            kind = event.get("event")
            if kind == "query" and not event.get("offered"):
                raise InstallFailed(
                    f"query: the DUT asked for an update as vendor 0x{int(event.get('vendorId', 0)):04X}, product "
                    f"0x{int(event.get('productId', 0)):04X}, version {event.get('softwareVersion')}: the image "
                    f"({header.describe()}) does not apply"
                )
            if kind == "progress":
                to_download()
                percent = event.get("percent")
                show.state("Downloading", int(percent) if isinstance(percent, int) else None)
            if kind == "apply":
                to_download()
                stage("download")
                if event.get("action") != 0:  # ApplyUpdateActionEnum: 0 Proceed
                    raise InstallFailed(
                        f"apply: the provider answered ApplyUpdateRequest with action {event['action']}"
                    )
                show.say("DUT: download done, applying")
                return
        if time.monotonic() > deadline:
            limit = t.query if phase == "query" else t.download
            raise InstallFailed(f"{phase}: timed out after {limit:g} s waiting for {awaited[phase]} (last: {last})")
        try:
            state = await ota.requestor_state(node, endpoint)
        except (RigError, TimeoutError) as exc:
            if downloading:  # gone after the download: applying (rebooting)
                stage("download")
                show.say(f"DUT stopped answering after the download ({exc.__class__.__name__}): applying")
                return
            last = f"UpdateState unreadable: {exc}"
            await asyncio.sleep(POLL_S)
            continue
        last = f"UpdateState {state.state}"
        if state.state == "Downloading":
            to_download()
            dut_downloading = True
            show.state(state.state, state.progress)
        elif state.state in ("Applying", "DelayedOnApply"):
            to_download()
            stage("download")
            show.say(f"DUT: {state.state}")
            return
        elif state.state == "Idle" and dut_downloading:
            raise InstallFailed(
                "download: the DUT went back to Idle after downloading: it refused the image or the download failed "
                "(its DownloadError / StateTransition events and log say why)"
            )
        elif state.state != "Idle" or not downloading:
            show.state(state.state, state.progress)
        await asyncio.sleep(POLL_S)


def _provider_events(provider: OtaProvider) -> list[dict[str, Any]]:
    """What the provider said since the last call."""
    events: list[dict[str, Any]] = []
    with contextlib.suppress(queue.Empty):
        while True:
            event = provider.events.get_nowait()
            log.info("OTA provider: %s", event)
            events.append(event)
    return events


async def _await_new_version(session: Session, header: OtaHeader, t: Timeouts, show: Progress) -> Versions:
    """Until Basic Information reports the image's version on a fresh CASE session (the DUT rebooted)."""
    from rig.matter import ota

    node = session.controller.node(session.config.dut.node_id, 0, timeout_s=5.0)
    deadline = time.monotonic() + t.apply + t.reboot
    last: str = "no answer yet"
    while time.monotonic() < deadline:
        node.expire_sessions()
        try:
            await session.controller.connect(node.node_id, timeout_s=max(min(10.0, deadline - time.monotonic()), 1.0))
            now = await ota.versions(node)
        except (RigError, TimeoutError) as exc:
            last = str(exc)
            await asyncio.sleep(POLL_S)
            continue
        if now.software_version == header.software_version:
            show.say(f"DUT answers on a new CASE session: {now.software_version} ({now.software_version_string!r})")
            return now
        last = f"SoftwareVersion still {now.software_version}"
        await asyncio.sleep(POLL_S)
    raise InstallFailed(
        f"reboot: timed out after {t.apply + t.reboot:g} s waiting for the DUT to report SoftwareVersion "
        f"{header.software_version} on a new CASE session (last: {last})"
    )


async def _leave_as_found(
    session: Session,
    node: Any,
    endpoint: int,
    defaults: list[dict[str, int]],
    provider: OtaProvider,
    commissioned: bool,
) -> list[str]:
    """The provider off the fabric and stopped, DefaultOTAProviders as found; never raises, returns what failed."""
    from rig.matter import ota

    notes: list[str] = []
    if commissioned:
        try:
            index = await _provider_fabric_index(session)
            status = await session.controller.remove_fabric(PROVIDER_NODE_ID, index, 10.0)
            if status not in ("kOk", "0"):
                notes.append(f"the provider's RemoveFabric answered {status}")
        except (RigError, TimeoutError) as exc:
            notes.append(f"the provider could not be removed from the fabric: {exc}")
    await asyncio.to_thread(provider.stop)
    try:
        node.expire_sessions()
        await session.controller.connect(node.node_id, timeout_s=15.0)
        if await ota.default_providers(node, endpoint) != defaults:
            await ota.write_default_providers(node, endpoint, defaults)
            notes.append("DefaultOTAProviders written back as found")
    except (RigError, TimeoutError) as exc:
        notes.append(f"DefaultOTAProviders could not be checked: {exc}")
    for note in notes:
        log.warning("after the install: %s", note)
    return notes


async def _provider_fabric_index(session: Session) -> int:
    from rig.commissioning import current_fabric_index

    return await current_fabric_index(session.controller, PROVIDER_NODE_ID, 10.0)


def summary(outcome: Outcome, header: OtaHeader) -> str:
    """The result for the terminal."""
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.stages.items())
    before, after = outcome.before, outcome.after
    text = (
        f"installed {header.software_version} ({header.software_version_string!r}) over Matter OTA: the DUT reported "
        f"{before.get('software_version')} before, {after.get('software_version')} "
        f"({after.get('software_version_string')!r}) after; {outcome.image_bytes} bytes in {outcome.total_s:.1f} s "
        f"({stages})"
    )
    return "\n".join([text, *(f"note: {n}" for n in outcome.notes)])
