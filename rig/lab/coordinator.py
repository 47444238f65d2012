"""The rig's one client of a labgrid coordinator (labgrid 26.0.1, gRPC): the only module importing labgrid.remote.

A :class:`Coordinator` is one labgrid ``ClientSession`` under one identity, ``<host>/<user>`` (labgrid 26.0.1
client.py ``gethostname``/``getuser``: ``LG_HOSTNAME``/``LG_USERNAME``); a run uses ``rig-<run id>`` as its user so
that its lock is its own, never shared with another run on the same host. The calls are labgrid's own requests
(remote/generated/labgrid-coordinator.proto): ``CreateReservation``/``PollReservation``/``CancelReservation``,
``AcquirePlace``/``ReleasePlace`` (with ``fromuser``: labgrid's ``release-from``, which frees a place only if that
owner still holds it), ``AddPlace``/``SetPlaceTags``/``AddPlaceMatch``. Every wait is bounded.
:func:`start_coordinator` starts a coordinator of this machine's own (a lab's test or benchmark on loopback).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rig.errors import RigError

DEFAULT_COORDINATOR = "127.0.0.1:20408"
"""labgrid's default coordinator address (labgrid 26.0.1 exporter.py/client.py)."""
POLL_S = 0.5
"""How often a waiting reservation is polled (labgrid's own client polls every 1 s; it expires 60 s after the last
poll, labgrid 26.0.1 common.py)."""
CONNECT_TIMEOUT_S = 10.0

T = TypeVar("T")


class FarmError(RigError):
    """The farm's coordinator refused or did not answer; the message says what was asked."""

    exit_code = 3


class PlaceBusy(FarmError):
    """No place could be had within the wait."""


@dataclass(frozen=True)
class ExportedResource:
    """One resource of an acquired place, as its exporter published it.

    Attributes:
        name: its name in the place (the named match's, else the exporter's resource name).
        cls: its labgrid class (``MatterDevice``, ``RigScpiSocket``, ...).
        params: its parameters (labgrid's ``extra`` removed).
        exporter: the exporter's name; ``group``: its group there.
        extra: labgrid's extra information (``proxy``, ``proxy_required``).
    """

    name: str
    cls: str
    params: dict[str, Any]
    exporter: str
    group: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlaceInfo:
    """A place as the coordinator shows it."""

    name: str
    tags: dict[str, str]
    acquired: str | None
    reservation: str | None
    matches: list[tuple[str, str | None]]


def coordinator_address(configured: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The coordinator to use: rig.yaml's, else ``$LG_COORDINATOR``, else labgrid's default."""
    env = os.environ if environ is None else environ
    return configured or env.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def labgrid_version() -> str:
    """The labgrid in use (for the run record)."""
    from importlib.metadata import version

    return version("labgrid")


@contextlib.contextmanager
def start_coordinator(folder: Path, listen: str = "127.0.0.1:0", *, timeout_s: float = 30.0) -> Iterator[str]:
    """A labgrid coordinator of this machine for the block: ``labgrid-coordinator -l LISTEN`` (the one installed next
    to the rig's Python; port 0: a free one) run in ``folder`` (made if missing; the coordinator keeps its state
    there), its output in ``folder/coordinator.log``. Yields the address it says it listens on (``HOST:PORT``). At the
    end it is stopped: SIGTERM, SIGKILL after 15 s.

    Raises:
        FarmError: it could not be started, ended, or named no address within ``timeout_s`` (the end of its log
            quoted).
    """
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "coordinator.log"
    exe = Path(sys.executable).parent / "labgrid-coordinator"
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # it prints its address with print(): unflushed into a file
    with open(log, "wb") as out:
        try:
            proc = subprocess.Popen(
                [str(exe), "-l", listen],
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise FarmError(f"cannot start {exe}: {exc}") from None
    try:
        deadline = time.monotonic() + timeout_s
        while not (found := re.search(r"listening on (\S+:\d+)", log.read_text(errors="replace"))):
            if proc.poll() is not None or time.monotonic() > deadline:
                ended = proc.returncode is not None
                why = f"ended (exit code {proc.returncode})" if ended else f"no address within {timeout_s:g} s"
                raise FarmError(
                    f"labgrid-coordinator did not start ({why}); it printed: {log.read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.1)
        yield found.group(1)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def identity(user: str) -> Iterator[None]:
    """``LG_USERNAME`` set to ``user`` for the block (labgrid reads it when the session starts and on each check)."""
    old = os.environ.get("LG_USERNAME")
    os.environ["LG_USERNAME"] = user
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LG_USERNAME", None)
        else:
            os.environ["LG_USERNAME"] = old


class Coordinator:
    """A session with a labgrid coordinator under the identity ``<host>/<user>``.

    Args:
        address: HOST:PORT of the coordinator.
        user: the labgrid user name (``LG_USERNAME``) of this session.

    Raises:
        FarmError: the coordinator did not answer within :data:`CONNECT_TIMEOUT_S`.
    """

    def __init__(self, address: str, user: str) -> None:
        self.address = address
        self.user = user
        os.environ["LG_USERNAME"] = user  # labgrid's getuser() reads it on every call, so it stays set
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # grpc.aio binds the channel to the current loop
        try:
            self.session: Any = self._connect(CONNECT_TIMEOUT_S)
        except BaseException:
            self.loop.close()
            raise
        self.owner = f"{self.session.gethostname()}/{user}"

    def _connect(self, timeout_s: float) -> Any:
        """labgrid 26.0.1 client.py ``start_session``, its start bounded by ``timeout_s`` (a host that takes the
        connection but never answers would hold it for ever)."""
        from labgrid.remote.client import ClientSession
        from labgrid.util.proxy import proxymanager

        session = None
        try:
            session = ClientSession(proxymanager.get_grpc_address(self.address, default_port=20408), self.loop)
            self.loop.run_until_complete(asyncio.wait_for(session.start(), timeout_s))
            return session
        except TimeoutError:
            why = f"no answer within {timeout_s:g} s"
        except Exception as exc:
            why = _why(exc)
        if session is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait_for(session.channel.close(), 5.0))
        raise FarmError(f"labgrid coordinator {self.address}: cannot connect ({why}); is labgrid-coordinator "
                        "running and listening there?")  # fmt: skip

    def _run(self, coro: Coroutine[Any, Any, T], what: str, timeout_s: float = CONNECT_TIMEOUT_S) -> T:
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coro, timeout_s))
        except TimeoutError:
            raise FarmError(
                f"labgrid coordinator {self.address}: no answer to {what} within {timeout_s:.0f} s"
            ) from None
        except Exception as exc:
            raise FarmError(f"labgrid coordinator {self.address}: {what}: {_why(exc)}") from None

    def close(self) -> None:
        """End the session (nothing is released: labgrid keeps a place acquired after its client is gone)."""
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(asyncio.wait_for(self.session.stop(), 5.0))
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(asyncio.wait_for(self.session.channel.close(), 5.0))
        self.loop.close()

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pb(self) -> Any:
        from labgrid.remote.generated import labgrid_coordinator_pb2

        return labgrid_coordinator_pb2

    def sync(self) -> None:
        """Bring this session's view of places and resources up to date."""
        self._run(self.session.sync_with_coordinator(), "sync")

    # -- places --------------------------------------------------------------------------------------------------
    def places(self) -> dict[str, PlaceInfo]:
        """Every place, by name."""
        self.sync()
        return {name: _place_info(place) for name, place in self.session.places.items()}

    def add_place(self, name: str) -> None:
        """Create place ``name``."""
        self._run(self.session.stub.AddPlace(self._pb().AddPlaceRequest(name=name)), f"create place {name}")
        self.sync()

    def set_tags(self, name: str, tags: Mapping[str, str]) -> None:
        """Set the tags of place ``name`` (the ones not named stay)."""
        request = self._pb().SetPlaceTagsRequest(placename=name, tags=dict(tags))
        self._run(self.session.stub.SetPlaceTags(request), f"tag place {name}")
        self.sync()

    def add_match(self, name: str, pattern: str, rename: str | None) -> None:
        """Add a resource match ``exporter/group/cls[/name]`` to place ``name``, renamed for drivers if given."""
        kwargs: dict[str, Any] = {"placename": name, "pattern": pattern}
        if rename:
            kwargs["rename"] = rename
        request = self._pb().AddPlaceMatchRequest(**kwargs)
        self._run(self.session.stub.AddPlaceMatch(request), f"add match {pattern} to place {name}")
        self.sync()

    # -- reserving and acquiring ---------------------------------------------------------------------------------
    def reserve(self, tags: Mapping[str, str], wait_s: float) -> tuple[str, str]:
        """Reserve a place whose tags include ``tags`` (``name=`` selects one place); wait for it up to ``wait_s``.

        Returns:
            (reservation token, allocated place name).

        Raises:
            PlaceBusy: no place was allocated within the wait (the reservation is cancelled).
        """
        from labgrid.remote.common import Reservation

        pb = self._pb()
        request = pb.CreateReservationRequest(filters={"main": pb.Reservation.Filter(filter=dict(tags))}, prio=0.0)
        response = self._run(self.session.stub.CreateReservation(request), "reserve")
        token = str(response.reservation.token)
        deadline = time.monotonic() + wait_s
        try:
            while True:
                polled = self._run(self.session.stub.PollReservation(pb.PollReservationRequest(token=token)), "poll")
                res = Reservation.from_pb2(polled.reservation)
                if res.allocations.get("main"):
                    return token, str(res.allocations["main"][0])
                if res.state.name not in ("waiting", "allocated"):
                    raise FarmError(f"reservation {token} ended {res.state.name}")
                if time.monotonic() >= deadline:
                    want = " ".join(f"{k}={v}" for k, v in sorted(tags.items()))
                    raise PlaceBusy(f"no place with {want} free within {wait_s:.0f} s (farm.wait); `rig lab reap` "
                                    "frees the places of dead runs")  # fmt: skip
                time.sleep(POLL_S)
        except BaseException:
            self.cancel(token)
            raise

    def cancel(self, token: str) -> None:
        """Cancel reservation ``token`` (labgrid checks no owner here; a token unknown to it is no error)."""
        with contextlib.suppress(FarmError):
            self._run(self.session.stub.CancelReservation(self._pb().CancelReservationRequest(token=token)), "cancel")

    def reservations(self) -> dict[str, str]:
        """Every reservation's token -> its owner."""
        response = self._run(self.session.stub.GetReservations(self._pb().GetReservationsRequest()), "reservations")
        return {str(r.token): str(r.owner) for r in response.reservations}

    def acquire(self, place: str) -> None:
        """Acquire ``place`` under this session's identity (every matched resource must be free)."""
        self._run(self.session.stub.AcquirePlace(self._pb().AcquirePlaceRequest(placename=place)), f"acquire {place}")
        self.sync()

    def release(self, place: str, *, from_owner: str | None = None) -> None:
        """Release ``place``; with ``from_owner`` only if that owner still holds it (labgrid's ``release-from``)."""
        kwargs: dict[str, Any] = {"placename": place}
        if from_owner is not None:
            kwargs["fromuser"] = from_owner
        self._run(self.session.stub.ReleasePlace(self._pb().ReleasePlaceRequest(**kwargs)), f"release {place}")

    def resources_of(self, place: str) -> list[ExportedResource]:
        """The resources of acquired place ``place``, named as its matches rename them."""
        self.sync()
        p = self.session.places.get(place)
        if p is None:
            raise FarmError(f"no place {place!r} on {self.address}")
        out = []
        for path in p.acquired_resources:
            exporter, group, cls, name = path
            entry = self.session.resources.get(exporter, {}).get(group, {}).get(name)
            if entry is None:
                continue
            match = p.getmatch(tuple(path))
            params = dict(entry.params)
            extra = dict(params.pop("extra", {}) or {})
            out.append(ExportedResource((match.rename if match and match.rename else name), cls, params, exporter,
                                        group, extra))  # fmt: skip
        return out


def _place_info(place: Any) -> PlaceInfo:
    return PlaceInfo(
        name=str(place.name),
        tags={str(k): str(v) for k, v in place.tags.items()},
        acquired=place.acquired or None,
        reservation=place.reservation or None,
        matches=[(_pattern(m), m.rename or None) for m in place.matches],
    )


def _pattern(match: Any) -> str:
    parts = [match.exporter, match.group, match.cls]
    if match.name:
        parts.append(match.name)
    return "/".join(parts)


def _why(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if callable(details):
        with contextlib.suppress(Exception):
            return str(details())
    return str(exc) or type(exc).__name__
