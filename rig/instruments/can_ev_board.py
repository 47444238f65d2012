"""The rig's CAN EV emulator board: the project's own open reference design of a self-built board (CP resistors and
diode, PP coding, fault relays, pilot measurement) -- not a product. Its frames are specified by ``ev_board.dbc``
(read with cantools) and docs/bench-protocols.md section 4; a board built to that design answers ``EVB_Ident`` with
model 0x4556.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rig.errors import InstrumentError
from rig.instruments.capabilities import EvBoardCommand, Identity, PilotReading
from rig.instruments.driver_base import Driver
from rig.instruments.transport import FrameTransport

if TYPE_CHECKING:
    from cantools.database.can import Database, Message

DBC_PATH = Path(__file__).with_name("ev_board.dbc")

Signals = dict[str, float]
"""One decoded frame: signal name → physical value (integers stay ``int``)."""


def load_dbc(path: Path = DBC_PATH) -> Database:
    """Return the cantools database of the EV board frames."""
    import cantools
    from cantools.database.can import Database

    db = cantools.database.load_file(str(path))
    if not isinstance(db, Database):
        raise ValueError(f"{path} is not a CAN database (DBC)")
    return db


def decode_signals(message: Message, data: bytes) -> Signals:
    """Decode one frame's signals as numbers (choices not applied, scaling applied)."""
    decoded = message.decode(data, decode_choices=False)
    if not isinstance(decoded, dict):
        raise ValueError(f"{message.name} is a container frame; the EV board sends none")
    return {name: value for name, value in decoded.items() if isinstance(value, int | float)}


class CanEvBoard(Driver[FrameTransport]):
    """EV emulator board on CAN (the rig's own reference design): apply() commands acknowledged by sequence number,
    pilot frequency, duty and levels.

    A reader thread, started by ``open()`` and stopped by ``close()``, keeps the latest EVB_Status, EVB_Pilot and
    EVB_Ident; frames with other ids are ignored.

    Args:
        role: the bench role.
        transport: a FrameTransport on the board's bus.
        ack_timeout_s: how long ``apply`` waits for the acknowledgement (and a query for a first frame), s.
        dbc: path of the DBC describing the frames.
    """

    DRIVER: ClassVar[str] = "can_ev_board"
    CAPABILITIES: ClassVar[tuple[str, ...]] = ("EvEmulatorBoard", "PilotMeter")

    def __init__(
        self, role: str, transport: FrameTransport, *, ack_timeout_s: float = 1.0, dbc: str | Path = DBC_PATH
    ) -> None:
        super().__init__(role, transport)
        self.ack_timeout_s = ack_timeout_s
        self._db = load_dbc(Path(dbc))
        self._cond = threading.Condition()
        self._seq = 0
        self._status: Signals | None = None
        self._pilot: Signals | None = None
        self._ident: Signals | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._reader_error: BaseException | None = None

    CP_STATES: ClassVar[dict[str, int]] = {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4, "F": 5}
    PP_CODES: ClassVar[dict[int | None, int]] = {None: 0, 13: 1, 20: 2, 32: 3, 63: 4}
    COMMAND_ID: ClassVar[int] = 0x300
    STATUS_ID: ClassVar[int] = 0x301
    PILOT_ID: ClassVar[int] = 0x302
    IDENT_ID: ClassVar[int] = 0x3FF
    MODEL: ClassVar[int] = 0x4556
    """EVB_Ident.model of a board of the reference design."""
    POLL_S: ClassVar[float] = 0.05

    @property
    def status(self) -> Signals:
        """Get the latest EVB_Status signals (physical units: mV, A), waiting up to ack_timeout_s for one."""
        return self._latest("_status", "EVB_Status")

    def open(self) -> None:
        """Control: open the transport and start the reader thread (idempotent)."""
        super().open()
        if self._reader is None:
            self._stop.clear()
            self._reader = threading.Thread(target=self._read_loop, name=f"can-ev-board-{self.role}", daemon=True)
            self._reader.start()

    def close(self) -> None:
        """Control: stop the reader thread and release the transport (idempotent)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            self._stop.set()
            reader.join(timeout=2.0)
        super().close()

    def identity(self) -> Identity:
        """Get the identity from EVB_Ident (requested with a remote frame when none was received yet).

        Raises:
            InstrumentError: the board's model is not the reference design's (names the frame and the model read).
        """
        with self._cond:
            have = self._ident is not None
        if not have:
            self.transport.send(self.IDENT_ID, bytes(8), remote=True)
        ident = self._latest("_ident", "EVB_Ident")
        model = int(ident["model"])
        if model != self.MODEL:
            raise self._error(
                f"{self.DRIVER} does not drive this board: EVB_Ident (0x{self.IDENT_ID:03X}) gives model "
                f"0x{model:04X}; it accepts the rig's reference EV emulator board (model 0x{self.MODEL:04X})"
            )
        return Identity(
            "rig reference design",
            "EV emulator board",
            str(int(ident["serial"])),
            f"{int(ident['fw_major'])}.{int(ident['fw_minor'])}",
        )

    def apply(self, command: EvBoardCommand) -> None:
        """Control: send EVB_Command with the next sequence number and wait for EVB_Status to acknowledge it.

        Raises:
            ValueError: a state, cable or current the frame cannot carry (nothing is sent).
            InstrumentError: no acknowledgement within ack_timeout_s, or the board applies another state or cable.
        """
        if command.cp_state not in self.CP_STATES:
            raise ValueError(f"cp_state must be one of {sorted(self.CP_STATES)}, got {command.cp_state!r}")
        if command.pp_amps not in self.PP_CODES:
            raise ValueError(f"pp_amps must be one of None, 13, 20, 32, 63, got {command.pp_amps!r}")
        raw_current = round(command.ev_max_current_a * 10)
        if not 0 <= raw_current <= 0xFFFF:
            raise ValueError(f"ev_max_current_a must be within 0..6553.5 A, got {command.ev_max_current_a:g}")
        self._raise_reader_error()
        seq = (self._seq + 1) % 256
        self._seq = seq
        data = self._db.get_message_by_name("EVB_Command").encode(
            {
                "cp_state": self.CP_STATES[command.cp_state],
                "diode_bypass": int(command.diode_bypass),
                "pe_break": int(command.pe_break),
                "rcd_ac_30ma": int(command.rcd_ac_30ma),
                "rcd_dc_6ma": int(command.rcd_dc_6ma),
                "pp_code": self.PP_CODES[command.pp_amps],
                "ev_max_current": raw_current,
                "seq": seq,
            },
            scaling=False,
        )
        self.transport.send(self.COMMAND_ID, data)
        deadline = time.monotonic() + self.ack_timeout_s
        with self._cond:
            while self._status is None or int(self._status["ack_seq"]) != seq:
                left = deadline - time.monotonic()
                if left <= 0 or self._reader_error is not None:
                    break
                self._cond.wait(left)
            status = self._status
        self._raise_reader_error()
        if status is None or int(status["ack_seq"]) != seq:
            seen = "no EVB_Status at all" if status is None else f"last ack_seq {int(status['ack_seq'])}"
            raise self._error(f"no EVB_Status acknowledging seq {seq} within {self.ack_timeout_s:g} s ({seen})")
        want = (self.CP_STATES[command.cp_state], self.PP_CODES[command.pp_amps])
        got = (int(status["cp_state_applied"]), int(status["pp_code"]))
        if got != want:
            raise self._error(f"board acknowledged seq {seq} but applies cp_state/pp_code {got}, commanded {want}")

    def pilot(self) -> PilotReading:
        """Measure the pilot from the latest frames: frequency (Hz), duty (%, 0..100), high/low level (V), board
        time (s). A duty above 100 % raises InstrumentError naming the frame."""
        p = self._latest("_pilot", "EVB_Pilot")
        s = self.status
        duty = round(float(p["cp_duty"]), 2)
        if not 0.0 <= duty <= 100.0:
            raise self._error(f"EVB_Pilot (0x{self.PILOT_ID:03X}) gives cp_duty {duty:g} %, outside 0..100 %")
        return PilotReading(
            frequency_hz=float(p["cp_freq_hz"]),
            duty_pct=duty,
            high_v=int(s["cp_high_mv"]) / 1000.0,
            low_v=int(s["cp_low_mv"]) / 1000.0,
            t_s=int(p["board_time_ms"]) / 1000.0,
        )

    def contactor_closed(self) -> bool:
        """Get whether the board sees the EVSE contactor closed (latest EVB_Pilot), bool."""
        return bool(self._latest("_pilot", "EVB_Pilot")["contactor"])

    def ev_current(self) -> float:
        """Measure the current the emulated EV draws (latest EVB_Status), A."""
        return round(float(self.status["ev_current"]), 1)

    def safe_state(self) -> None:
        """Control: apply state A, no cable, every fault off."""
        self.apply(EvBoardCommand())

    def _latest(self, attr: str, frame: str) -> Signals:
        deadline = time.monotonic() + self.ack_timeout_s
        with self._cond:
            while getattr(self, attr) is None:
                left = deadline - time.monotonic()
                if left <= 0 or self._reader_error is not None:
                    break
                self._cond.wait(left)
            value: Signals | None = getattr(self, attr)
        self._raise_reader_error()
        if value is None:
            raise self._error(f"no {frame} frame received within {self.ack_timeout_s:g} s; is the board powered?")
        return value

    def _raise_reader_error(self) -> None:
        if self._reader_error is not None:
            error = self._reader_error
            if isinstance(error, InstrumentError):
                raise error
            raise self._error(f"CAN reader failed: {type(error).__name__}: {error}")

    def _read_loop(self) -> None:
        latest = {self.STATUS_ID: "_status", self.PILOT_ID: "_pilot", self.IDENT_ID: "_ident"}
        decoders = {m.frame_id: m for m in self._db.messages if m.frame_id in latest}
        while not self._stop.is_set():
            try:
                frame = self.transport.receive(self.POLL_S)
            except BaseException as exc:  # surfaced to the caller of the next method
                with self._cond:
                    self._reader_error = exc
                    self._cond.notify_all()
                return
            if frame is None:
                continue
            arbitration_id, data, _ = frame
            message = decoders.get(arbitration_id)
            if message is None or len(data) < message.length:
                continue
            signals = decode_signals(message, data)
            with self._cond:
                setattr(self, latest[arbitration_id], signals)
                self._cond.notify_all()
