"""Install a firmware build on the DUT over Matter OTA (Matter Core specification, section 11.20 OTA Software Update),
the way every Matter device can be updated, whatever its vendor.

1. the image's header (vendor id, product id, software version, applicable range; its digest checked when it was
   read) against the DUT's Basic Information: a mismatch, or an image not newer than the running version, is refused
   naming the field (exit code 2), before anything is started;
2. an OTA Provider node serving the image (:mod:`rig.firmware.provider`) started on the bench network, attesting
   with the station's own chain, commissioned into the station's fabric (the session trusts the station's provider
   PAA: ``open_session(also_trust=station_paa)``) and given an ACL entry that lets the DUT's node (CASE) operate its
   provider cluster;
3. ``AnnounceOTAProvider`` on the DUT's OTA Requestor, then its ``UpdateState`` / ``UpdateStateProgress`` followed
   (querying, downloading with a progress bar, applying), and its events: a ``DownloadError`` or a ``StateTransition``
   back to Idle for a failure is the DUT refusing the image, reported at once (Matter Core 11.20.7.7);
4. the apply (the DUT stops answering to reboot) and the reboot (a new CASE session) awaited, each bounded, and Basic
   Information read until it reports the new software version;
5. whatever happens: the provider removed from the fabric (``RemoveFabric``) and stopped, and the DUT's
   ``DefaultOTAProviders`` written back if it changed. The rig's own fabric is the session's business.

Every stage is bounded by its own timeout; a failure names the stage, the DUT, the image and what was awaited or
what the DUT said.
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
from rig.firmware.provider import OtaProvider, ProviderSettings, station_chain

if TYPE_CHECKING:
    from rig.matter.ota import RequestorEvent, Versions
    from rig.session import Session

log = logging.getLogger(__name__)

PROVIDER_NODE_ID = 0x0000_0000_0F7A_0001
"""The provider's node id on the station's fabric (while an install lasts)."""
PROVIDER_VENDOR_ID = 0xFFF1
POLL_S = 0.2


class ImageRefused(ConfigError):
    """The image does not fit the DUT (exit code 2); the message names the field."""


class InstallFailed(RigError):
    """The install did not end with the new version running (exit code 1); the message names the stage, the DUT and
    the image. ``dut_gone``: the DUT was last seen not answering (it did not come back)."""

    exit_code = 1

    def __init__(self, message: str, *, dut_gone: bool = False) -> None:
        super().__init__(message)
        self.dut_gone = dut_gone


@dataclass(frozen=True)
class Timeouts:
    """Bounds of each stage, s."""

    provider: float = 30.0
    """the provider up and commissioned"""
    query: float = 660.0
    """announcement until the download starts (a requestor may wait up to 10 minutes after an announcement)"""
    download: float = 600.0
    apply: float = 120.0
    """download done (ApplyUpdateRequest) until the DUT stops answering (it reboots) or reports the new version"""
    reboot: float = 180.0
    """from the DUT going away until it answers again on a new CASE session with the new version"""


@dataclass
class Outcome:
    """What an install did."""

    before: dict[str, Any]
    after: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0
    image_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    method: str = "ota"
    """``ota`` (Matter OTA) or ``command`` (the vendor's flashing command, :mod:`rig.firmware.flash`)"""

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "before": self.before,
            "after": self.after,
            "stages_s": {k: round(v, 3) for k, v in self.stages.items()},
            "total_s": round(self.total_s, 3),
            "image_bytes": self.image_bytes,
            "notes": list(self.notes),
            "method": self.method,
        }


def check_image(header: OtaHeader, running: Versions, *, any_version: bool = False) -> None:
    """Refuse an image that does not fit the DUT, naming the field. ``any_version``: the vendor's flasher installs
    any version (older ones too) and ignores the applicable range, an OTA requestor's rule; the ids still apply.

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
    if any_version:
        return
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


@dataclass(frozen=True)
class _Names:
    """How messages name the DUT and the image (every failure names both)."""

    dut: str
    image: str


def _names(session: Session, image: OtaImage) -> _Names:
    h = image.header
    return _Names(
        f"the DUT (node 0x{session.config.dut.node_id:x})",
        f"image {image.path.name} (SoftwareVersion {h.software_version}, {h.software_version_string!r})",
    )


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
        InstallFailed: a stage failed or timed out (its name, the DUT, the image and what was awaited in the message).
        DutError: the DUT has no OTA Requestor, or its requestor is busy.
    """
    from rig.matter import ota

    t = timeouts or Timeouts()
    show = progress or Progress()
    names = _names(session, image)
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
    seen = await _last_event_number(node, requestor_endpoint)
    show.say(f"image: {image.header.describe()}")
    show.say(f"DUT runs {running.software_version} ({running.software_version_string!r}); installing over Matter OTA")

    folder = workdir / "ota-provider"
    chain = None if session.station is None else await asyncio.to_thread(station_chain, session.station.folder)
    provider = OtaProvider(
        ProviderSettings(image.path, folder, provider_port, session.sandbox.device_iface, chain=chain),
        start_timeout_s=t.provider,
    )
    mark = time.monotonic()

    def stage(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        outcome.stages[name] = now - mark
        mark = now

    commissioned = False
    gone = False  # the DUT was last seen not answering (rebooting, or not back)
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
        gone = await _follow(polled, requestor_endpoint, provider, image.header, t, show, stage, names, seen)
        try:
            after = await _await_new_version(session, image.header, t, show, stage, names, gone=gone)
        except InstallFailed as exc:
            gone = exc.dut_gone
            raise
        gone = False
        outcome.after = vars(after).copy()
        if after.software_version_string != image.header.software_version_string:
            outcome.notes.append(
                f"SoftwareVersionString reads {after.software_version_string!r}, the image says "
                f"{image.header.software_version_string!r}"
            )
    finally:
        outcome.notes += await _leave_as_found(
            session, node, requestor_endpoint, defaults, provider, commissioned, dut_gone=gone
        )
    outcome.total_s = time.monotonic() - t_start
    return outcome


async def _last_event_number(node: Any, endpoint: int) -> int | None:
    """The number of the OTA Requestor's latest event before the install (None: none, or unreadable): only events
    after it are this install's."""
    from rig.matter import ota

    try:
        events = await ota.requestor_events(node, endpoint)
    except ota.NO_ANSWER as exc:
        log.warning("the DUT's OTA Requestor events could not be read before the install: %s", exc)
        return None
    return events[-1].number if events else None


async def _follow(
    node: Any,
    endpoint: int,
    provider: OtaProvider,
    header: OtaHeader,
    t: Timeouts,
    show: Progress,
    stage: Callable[[str], None],
    names: _Names,
    seen: int | None,
) -> bool:
    """From the announcement until the DUT applies the image (or reboots); each stage bounded. Return whether the
    DUT had stopped answering (it reboots).

    Three witnesses: the DUT's UpdateState / UpdateStateProgress; its OTA Requestor events (Matter Core 11.20.7.7:
    a DownloadError, or a StateTransition back to Idle for a Failure, is a refusal, reported at once); and the
    provider's own account (the query, the BDX transfer's progress, the ApplyUpdateRequest). A DUT may hold its
    attributes back while it downloads (matter.js commits them when its whole query-download-apply ends), so the
    provider's account keeps the bar moving.
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
                    f"query: {names.dut} asked for an update as vendor 0x{int(event.get('vendorId', 0)):04X}, product "
                    f"0x{int(event.get('productId', 0)):04X}, version {event.get('softwareVersion')!r}: "
                    f"{names.image} ({header.describe()}) does not apply"
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
                        f"apply: the provider answered {names.dut}'s ApplyUpdateRequest for {names.image} with "
                        f"action {event['action']!r}"
                    )
                show.say("DUT: download done, applying")
                return False
        try:
            events = await ota.requestor_events(node, endpoint, seen)
        except ota.NO_ANSWER as exc:
            log.info("the DUT's OTA Requestor events unreadable: %s", exc)
            events = []
        if events:
            seen = events[-1].number
            for dut_event in events:
                log.info("DUT's OTA Requestor: #%d %s", dut_event.number, dut_event.describe())
            _refusal(events, phase, names)
        if time.monotonic() > deadline:
            limit = t.query if phase == "query" else t.download
            raise InstallFailed(
                f"{phase}: timed out after {limit:g} s waiting for {awaited[phase]}: {names.dut}, {names.image} "
                f"(last: {last})"
            )
        try:
            state = await ota.requestor_state(node, endpoint)
        except ota.NO_ANSWER as exc:
            if downloading:  # gone after the download: applying (rebooting)
                stage("download")
                show.say(f"DUT stopped answering after the download ({exc.__class__.__name__}): applying")
                return True
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
            return False
        elif state.state == "Idle" and dut_downloading:
            raise InstallFailed(
                f"download: {names.dut} went back to Idle after downloading {names.image}: it refused the image or the "
                "download failed (no DownloadError or StateTransition event said why; its log may)"
            )
        elif state.state != "Idle" or not downloading:
            show.state(state.state, state.progress)
        await asyncio.sleep(POLL_S)


def _refusal(events: list[RequestorEvent], phase: str, names: _Names) -> None:
    """Raise InstallFailed when the DUT's OTA Requestor events say it gave the update up: a DownloadError, or a
    StateTransition to Idle for a Failure or a TimeOut (Matter Core 11.20.7.7)."""
    failed = [
        e
        for e in events
        if e.name == "DownloadError"
        or (e.name == "StateTransition" and e.fields.get("NewState") == "Idle" and e.fields.get("Reason") != "Success")
    ]
    if not failed:
        return
    said = "; ".join(e.describe() for e in failed)
    downloaded = any(e.name == "DownloadError" for e in failed) or any(
        e.fields.get("PreviousState") == "Downloading" for e in failed
    )
    what = "rejected" if downloaded else "gave up on"
    raise InstallFailed(
        f"{'download' if downloaded else phase}: {names.dut} {what} {names.image}"
        + (" after downloading it" if downloaded else "")
        + f": {said} (a DownloadError's PlatformCode is the firmware's own code; the DUT's log says more)"
    )


async def _await_new_version(
    session: Session,
    header: OtaHeader,
    t: Timeouts,
    show: Progress,
    stage: Callable[[str], None],
    names: _Names,
    *,
    gone: bool,
) -> Versions:
    """After the DUT asked to apply the image: until Basic Information reports the image's version on a fresh CASE
    session. Two bounded stages: ``apply`` (the DUT still answers, running the old build: ``t.apply`` from the
    ApplyUpdateRequest for it to go away) and ``reboot`` (``t.reboot`` from the DUT going away for it to answer again
    with the image's version). While it answers it is read on the session in use; once it does not, on a fresh CASE
    session each time (a rebooted DUT has forgotten its sessions). A DUT that comes back running the old build is in
    the apply stage again (it did not boot the image).

    Raises:
        InstallFailed: a stage ran out (its ``dut_gone`` says whether the DUT was answering at the end).
    """
    from rig.matter import ota

    # short bounds: a read that times out only sends this loop to fresh CASE sessions; a DUT found there running
    # the old build is back in the apply stage
    node = session.controller.node(session.config.dut.node_id, 0, timeout_s=1.5)
    requestor = session.controller.node(session.config.dut.node_id, 0, timeout_s=1.5)
    apply_deadline = time.monotonic() + t.apply
    away_since: float | None = time.monotonic() if gone else None
    went_away = gone  # ever, during this stage
    last: str = "no answer yet"
    while True:
        attempt = time.monotonic()
        deadline = apply_deadline if away_since is None else away_since + t.reboot
        if attempt > deadline:
            break
        try:
            if away_since is not None:
                node.expire_sessions()
                await session.controller.connect(node.node_id, timeout_s=max(min(10.0, deadline - attempt), 1.0))
            now = await ota.versions(node)
        except ota.NO_ANSWER as exc:
            last = f"no answer: {exc}"
            if away_since is None:
                away_since, went_away = attempt, True
                stage("apply")
                show.say(f"DUT stopped answering ({exc}): rebooting into the image")
            await asyncio.sleep(POLL_S)
            continue
        if now.software_version == header.software_version:
            stage("reboot" if went_away else "apply")
            show.say(f"DUT answers on a new CASE session: {now.software_version} ({now.software_version_string!r})")
            return now
        if away_since is not None:
            show.say(f"DUT answers again, running {now.software_version} ({now.software_version_string!r})")
            away_since = None
        last = f"it answers, running SoftwareVersion {now.software_version} ({now.software_version_string!r})"
        with contextlib.suppress(*ota.NO_ANSWER):
            last += f", UpdateState {(await ota.requestor_state(requestor, 0)).state}"
        await asyncio.sleep(5 * POLL_S)
    if away_since is None:
        back = " (it stopped answering for a while and came back on the old build)" if went_away else ""
        raise InstallFailed(
            f"apply: {names.dut} never rebooted into {names.image}: {t.apply:g} s after it asked to apply it, "
            f"{last}{back}"
        )
    raise InstallFailed(
        f"reboot: {names.dut} did not come back running {names.image} within {t.reboot:g} s after it went away to "
        f"apply it (SoftwareVersion {header.software_version} awaited on a new CASE session; last: {last})",
        dut_gone=True,
    )


async def _leave_as_found(
    session: Session,
    node: Any,
    endpoint: int,
    defaults: list[dict[str, int]],
    provider: OtaProvider,
    commissioned: bool,
    *,
    dut_gone: bool = False,
) -> list[str]:
    """The provider off the fabric and stopped, DefaultOTAProviders as found; never raises, returns what failed.
    ``dut_gone``: the DUT was last seen not answering (it did not come back): it is given a short chance only."""
    from rig.matter import ota

    notes: list[str] = []
    if commissioned:
        try:
            index = await _provider_fabric_index(session)
            status = await session.controller.remove_fabric(PROVIDER_NODE_ID, index, 10.0)
            if status not in ("kOk", "0"):
                notes.append(f"the provider's RemoveFabric answered {status}")
        except ota.NO_ANSWER as exc:
            notes.append(f"the provider could not be removed from the fabric: {exc}")
    await asyncio.to_thread(provider.stop)
    try:
        node.expire_sessions()
        await session.controller.connect(node.node_id, timeout_s=3.0 if dut_gone else 15.0)
        if await ota.default_providers(node, endpoint) != defaults:
            await ota.write_default_providers(node, endpoint, defaults)
            notes.append("DefaultOTAProviders written back as found")
    except ota.NO_ANSWER as exc:
        notes.append(f"DefaultOTAProviders could not be checked: {exc}")
    for note in notes:
        log.warning("after the install: %s", note)
    return notes


def _provider_events(provider: OtaProvider) -> list[dict[str, Any]]:
    """What the provider said since the last call."""
    events: list[dict[str, Any]] = []
    with contextlib.suppress(queue.Empty):
        while True:
            event = provider.events.get_nowait()
            log.info("OTA provider: %s", event)
            events.append(event)
    return events


async def _provider_fabric_index(session: Session) -> int:
    from rig.commissioning import current_fabric_index

    return await current_fabric_index(session.controller, PROVIDER_NODE_ID, 10.0)


def summary(outcome: Outcome, header: OtaHeader, *, flasher: str | None = None) -> str:
    """The result for the terminal: over Matter OTA (with the bytes sent), or with the flashing command named by its
    program ``flasher`` (:func:`rig.firmware.flash.program`)."""
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.stages.items())
    before, after = outcome.before, outcome.after
    how = "over Matter OTA" if flasher is None else f"with the flashing command {flasher}"
    sent = f"{outcome.image_bytes} bytes in " if flasher is None else ""
    text = (
        f"installed {header.software_version} ({header.software_version_string!r}) {how}: the DUT reported "
        f"{before.get('software_version')} before, {after.get('software_version')} "
        f"({after.get('software_version_string')!r}) after; {sent}{outcome.total_s:.1f} s ({stages})"
    )
    return "\n".join([text, *(f"note: {n}" for n in outcome.notes)])
