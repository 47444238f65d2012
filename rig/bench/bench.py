"""The bench: instrument roles of rig.yaml opened in order, closed in reverse, safe state on every exit path.

    with Bench(config) as bench:            # opens every role (identities recorded), EV emulator built
        bench.install_signal_handlers()     # SIGTERM / SIGINT -> safe state, then exit
        ac = bench.capability("ac_source", AcSource)
        ...
    # safe state + close, whatever happened

Safe state order: the EV emulator first (state A, every fault path released, no cable), then every AC source
(output off), then every relay instrument (relays open), then the rest. Every instrument is tried even when one
fails; the failures are reported together afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Collection, Sequence
from types import FrameType, TracebackType
from typing import Any, TypeVar

from rig.config import RigConfig
from rig.config.bench import InstrumentConfig, transport_params
from rig.errors import ConfigError, InstrumentError, RigError, SetupError
from rig.ev_emulator import EvEmulator
from rig.instruments.capabilities import AcSource, Identity, Instrument, RelayIo

log = logging.getLogger("rig.bench")

T = TypeVar("T")
InstrumentFactory = Callable[[str, InstrumentConfig], Instrument]
"""Builds and opens the instrument of one role (default: through ``rig.instruments.registry``)."""

_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def registry_factory(role: str, inst: InstrumentConfig) -> Instrument:
    """Build and open ``role``'s driver on its transport through the instrument registry.

    Raises:
        ConfigError: the driver or transport refuses its parameters (names ``instruments.<role>``).
        InstrumentError: the instrument cannot be reached (from the transport).
    """
    from rig.instruments.registry import make_instrument, make_transport

    try:
        transport = make_transport(inst.transport.kind, role, **transport_params(inst.transport))
    except ValueError as exc:
        raise ConfigError(f"instruments.{role}.transport: {exc}") from None
    try:
        instrument: Instrument = make_instrument(role, inst.driver, transport, **inst.params)
    except ValueError as exc:
        transport.close()
        raise ConfigError(f"instruments.{role}.params: {exc}") from None
    except BaseException:
        transport.close()
        raise
    return instrument


def _last_command(instrument: object) -> str | None:
    transport = getattr(instrument, "transport", None)
    last = getattr(transport, "last_command", None)
    return last or None


class Bench:
    """The instruments of one rig.yaml, by role.

    Args:
        config: the validated rig.yaml.
        factory: builds and opens one role's instrument (tests pass fakes; default: the registry).

    Attributes:
        identities: role -> what the instrument said it is, in opening order (for the report).
        ev_emulator: the EV emulator built on ``ev_emulator.via``, if rig.yaml has one.
        safe_state_errors: the failures of the last :meth:`safe_state` (empty when every instrument got there).
    """

    def __init__(self, config: RigConfig, *, factory: InstrumentFactory | None = None) -> None:
        self.config = config
        self._factory = factory or registry_factory
        self._instruments: dict[str, Instrument] = {}
        self.identities: dict[str, Identity] = {}
        self.ev_emulator: EvEmulator | None = None
        self.safe_state_errors: list[str] = []
        self._previous_handlers: dict[int, _SignalHandler] = {}
        self._in_signal = False
        self._safe_by_signal = False
        self.lost: set[str] = set()
        """Roles lost during the run (:meth:`note_loss`): never asked again, not even for their safe state."""
        self.unpowered_by_loss = False
        """A loss drove the bench to its safe state (AC off) during the run: the DUT is unpowered until the mains
        come on again (:func:`rig.session.power_back_after_loss`)."""
        self.dut_lost = False
        """The DUT stopped answering during the run: it gets a power cycle when the mains come on again."""

    # ------------------------------------------------------------------------------------------- properties
    @property
    def roles(self) -> list[str]:
        """Get the open roles, in opening order."""
        return list(self._instruments)

    def address(self, role: str) -> str:
        """Return the transport address of ``role`` as rig.yaml gives it."""
        inst = self.config.instruments.get(role)
        return inst.address if inst is not None else "?"

    def role(self, name: str) -> Instrument:
        """Return the open instrument of role ``name``.

        Raises:
            ConfigError: no such role (the message lists the open roles).
        """
        try:
            return self._instruments[name]
        except KeyError:
            declared = ", ".join(self._instruments) or "none open"
            raise ConfigError(f"no instrument role {name!r} on this bench; roles: {declared}") from None

    def first(self, cls: type) -> tuple[str, Any] | None:
        """The first role (in opening order) whose instrument offers capability ``cls`` (a protocol class, which a
        ``type[T]`` parameter would not accept), with it; None if none."""
        for role, instrument in self._instruments.items():
            if isinstance(instrument, cls):
                return role, instrument
        return None

    def capability(self, name: str, cls: type[T]) -> T:
        """Return role ``name``'s instrument as capability ``cls`` (e.g. ``AcSource``).

        Raises:
            ConfigError: the role's driver does not offer ``cls`` (names role, driver and capability).
        """
        instrument = self.role(name)
        if not isinstance(instrument, cls):
            driver = self.config.instruments[name].driver if name in self.config.instruments else "?"
            raise ConfigError(
                f"role {name!r} (driver {driver}) does not offer {cls.__name__}; choose a role whose driver does, "
                "or change instruments." + name + ".driver in rig.yaml"
            )
        return instrument

    # ------------------------------------------------------------------------------------------ lifecycle
    def open(self) -> Bench:
        """Open every role in declaration order, record identities, build the EV emulator.

        On failure everything already open is put in its safe state and closed before the error propagates.

        Raises:
            InstrumentError: a role could not be opened or identified (names role and address).
            ConfigError: a driver refused its parameters, or the EV emulator role lacks a capability.
        """
        try:
            for role, inst in self.config.instruments.items():
                instrument = self._call(role, "open", functools.partial(self._factory, role, inst))
                self._instruments[role] = instrument
                self.identities[role] = self._call(role, "*IDN? / identity", instrument.identity)
                log.info("opened %s at %s: %s", role, inst.address, self.identities[role])
            ev = self.config.ev_emulator
            if ev is not None:
                self.ev_emulator = EvEmulator(
                    self.role(ev.via),
                    pilot=self.role(ev.pilot) if ev.pilot else None,
                    wiring=ev.wiring,
                    ev_max_current_a=ev.ev_max_current_a,
                    phases=ev.phases,
                    role=ev.via,
                )
        except BaseException:
            with contextlib.suppress(RigError):
                self.safe_state()
            self.close()
            raise
        return self

    def note_loss(self, role: str | None) -> None:
        """An instrument (``role``) or the DUT (None) was lost during a case: the role is not asked again, and the
        safe state that follows leaves the DUT unpowered."""
        if role is not None:
            self.lost.add(role)
        else:
            self.dut_lost = True
        self.unpowered_by_loss = True

    def safe_state(self, lost: Collection[str] = ()) -> None:
        """Put every instrument in its safe state: EV emulator released, AC off, relays open, then the rest.

        Every instrument is tried but those named in ``lost`` (roles known to be gone: asking them would only wait
        for their timeouts); failures are collected in :attr:`safe_state_errors`.

        Raises:
            InstrumentError: at least one instrument did not reach its safe state (all failures in the message).
        """
        errors: list[tuple[str, BaseException]] = []
        lost = set(lost) | self.lost
        if self.ev_emulator is not None and self.ev_emulator.role not in lost:
            try:
                self.ev_emulator.release_all()
            except Exception as exc:
                errors.append((self.ev_emulator.role, exc))
        ac = [r for r, i in self._instruments.items() if isinstance(i, AcSource)]
        relays = [r for r, i in self._instruments.items() if isinstance(i, RelayIo) and r not in ac]
        rest = [r for r in self._instruments if r not in ac and r not in relays]
        for role in [r for r in ac + relays + rest if r not in lost]:
            try:
                self._call(role, "safe state", self._instruments[role].safe_state)
            except Exception as exc:
                errors.append((role, exc))
        self.safe_state_errors = [str(exc) for _, exc in errors]
        if errors:
            role = errors[0][0]
            for line in self.safe_state_errors:
                log.error("safe state: %s", line)
            raise InstrumentError(
                role,
                self.address(role),
                f"safe state not reached by {len(errors)} instrument(s): "
                + " | ".join(self.safe_state_errors)
                + "; check those instruments by hand before touching the bench",
            )

    def close(self) -> None:
        """Close every role in reverse order (errors logged, never raised) and restore signal handlers."""
        for role in reversed(list(self._instruments)):
            try:
                self._instruments[role].close()
            except Exception as exc:
                log.error("closing %s at %s failed: %s", role, self.address(role), exc)
        self._instruments.clear()
        self.ev_emulator = None
        self.restore_signal_handlers()

    def __enter__(self) -> Bench:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._safe_by_signal:
                self.safe_state()
        except RigError:
            if exc is None:
                raise
            log.error(
                "safe state after %s failed: %s", exc_type.__name__ if exc_type else "error", self.safe_state_errors
            )
        finally:
            self.close()

    # -------------------------------------------------------------------------------------------- signals
    def install_signal_handlers(self, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Make SIGTERM / SIGINT put the bench in its safe state, then exit (main thread only).

        SIGTERM exits with ``SystemExit(128 + 15)``, SIGINT raises ``KeyboardInterrupt``; either unwinds through
        the ``with`` block, which closes the instruments. The previous handlers come back at :meth:`close` or
        :meth:`restore_signal_handlers`.

        Raises:
            SetupError: not called from the main thread.
        """
        try:
            for sig in signals:
                if sig not in self._previous_handlers:
                    self._previous_handlers[sig] = signal.signal(sig, self._on_signal)
        except ValueError as exc:  # signal only works in main thread of the main interpreter
            self.restore_signal_handlers()
            raise SetupError(f"bench signal handlers must be installed from the main thread: {exc}") from None

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that were there before :meth:`install_signal_handlers`."""
        for sig, previous in self._previous_handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._in_signal:
            return  # a second signal while reaching the safe state: finish that first
        self._in_signal = True
        name = signal.Signals(signum).name
        log.warning("%s: putting the bench in its safe state", name)
        try:
            self.safe_state()
        except RigError as exc:
            log.error("%s: %s", name, exc)
        self._safe_by_signal = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    # ---------------------------------------------------------------------------------------------- helpers
    def _call(self, role: str, action: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; any error other than the rig's own becomes an InstrumentError naming role and address."""
        try:
            return fn()
        except RigError:
            raise
        except Exception as exc:
            instrument = self._instruments.get(role)
            raise InstrumentError(
                role, self.address(role), f"{action} failed: {type(exc).__name__}: {exc}", _last_command(instrument)
            ) from exc
