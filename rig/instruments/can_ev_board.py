"""CAN EV emulator board (the rig's IEC 61851-1 EV emulator: CP resistors/diode, PP coding, fault relays, pilot
capture), frames described in ``ev_board.dbc``.

Manual: docs/bench-protocols.md section 4 and ``rig/instruments/ev_board.dbc`` (read with cantools).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rig.errors import InstrumentError
from rig.instruments.capabilities import Edge, EvBoardCommand, Identity, PilotReading
from rig.instruments.driver_base import Driver
from rig.instruments.modbus_relay_io import signal_name
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
    """EV emulator board on CAN: ``apply()`` commands (acknowledged by sequence number), pilot and edges.

    A reader thread, started by ``open()`` and stopped by ``close()``, keeps the latest EVB_Status and EVB_Pilot
    and collects EVB_Edge frames.

    Args:
        role: the bench role.
        transport: a FrameTransport on the board's bus.
        ack_timeout_s: how long ``apply`` waits for the acknowledgement, s.
        dbc: path of the DBC describing the frames.
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("EvEmulatorBoard", "PilotCapture")

    def __init__(
        self,
        role: str,
        transport: FrameTransport,
        ack_timeout_s: float = 1.0,
        dbc: str | Path = DBC_PATH,
        **params: Any,
    ) -> None:
        if params:
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(params)}")
        super().__init__(role, transport)
        self.ack_timeout_s = ack_timeout_s
        self._db = load_dbc(Path(dbc))
        self._cond = threading.Condition()
        self._seq = 0
        self._status: Signals | None = None
        self._pilot: Signals | None = None
        self._ident: Signals | None = None
        self._edges: list[Edge] = []
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._reader_error: BaseException | None = None

    CP_STATES: ClassVar[dict[str, int]] = {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4, "F": 5}
    PP_CODES: ClassVar[dict[int | None, int]] = {None: 0, 13: 1, 20: 2, 32: 3, 63: 4}
    COMMAND_ID: ClassVar[int] = 0x300
    STATUS_ID: ClassVar[int] = 0x301
    PILOT_ID: ClassVar[int] = 0x302
    EDGE_ID: ClassVar[int] = 0x303
    IDENT_ID: ClassVar[int] = 0x3FF
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
        """Get the identity from EVB_Ident (requested with a remote frame when none was received yet)."""
        with self._cond:
            have = self._ident is not None
        if not have:
            self.transport.send(self.IDENT_ID, bytes(8), remote=True)
        ident = self._latest("_ident", "EVB_Ident")
        return Identity(
            "rig EV emulator board",
            f"model 0x{int(ident['model']):04X}",
            str(int(ident["serial"])),
            f"{int(ident['fw_major'])}.{int(ident['fw_minor'])}",
        )

    def apply(self, command: EvBoardCommand) -> None:
        """Control: send EVB_Command with the next sequence number and wait for EVB_Status to acknowledge it."""
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
        """Measure the pilot: frequency (Hz), duty (%), high/low level (V), board time (s) from the latest frames."""
        p = self._latest("_pilot", "EVB_Pilot")
        s = self.status
        return PilotReading(
            frequency_hz=float(p["cp_freq_hz"]),
            duty_pct=round(float(p["cp_duty"]), 2),
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

    def now_s(self) -> float:
        """Get the board clock of the latest EVB_Pilot, s (at most 10 ms old)."""
        return int(self._latest("_pilot", "EVB_Pilot")["board_time_ms"]) / 1000.0

    def edges(self) -> list[Edge]:
        """Get the EVB_Edge frames received since the last clear, oldest first (board time, s)."""
        self._raise_reader_error()
        with self._cond:
            return list(self._edges)

    def clear_edges(self) -> None:
        """Control: forget the edges received so far (local; the board keeps no log)."""
        with self._cond:
            self._edges.clear()

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
        decoders = {m.frame_id: m for m in self._db.messages}
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
            if message is None or arbitration_id == self.COMMAND_ID or len(data) < message.length:
                continue
            signals = decode_signals(message, data)
            with self._cond:
                if arbitration_id == self.STATUS_ID:
                    self._status = signals
                elif arbitration_id == self.PILOT_ID:
                    self._pilot = signals
                elif arbitration_id == self.IDENT_ID:
                    self._ident = signals
                elif arbitration_id == self.EDGE_ID:
                    edge = Edge(
                        signal_name(int(signals["signal"])),
                        int(signals["board_time_ms"]) / 1000.0,
                        int(signals["level"]),
                    )
                    self._edges.append(edge)
                self._cond.notify_all()
