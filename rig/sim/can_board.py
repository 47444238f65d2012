"""The CAN EV emulator board of the virtual bench: the rig's own open reference design of a self-built EV emulator
board (not a product; docs/bench-protocols.md section 4, frames in ``rig/instruments/ev_board.dbc``), on python-can.

The board listens for ``EVB_Command`` (0x300) and applies it to the plant's EV-side switches in one instant, sends
``EVB_Status`` (0x301) and ``EVB_Pilot`` (0x302) every 10 ms and on change, and ``EVB_Ident`` (0x3FF) at start and
on a remote frame; nothing else. Frames are packed here with the DBC's bit layout (little-endian, start bits as
listed there); the default bus is python-can's ``udp_multicast`` interface so that a driver in another process sees
the board. This is the only module of rig/sim importing python-can.

cp_state 5 (F) cannot be produced by an EV: the board disconnects the CP line (like A) and reports 5 as applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import can

from rig.ev_emulator.channels import (
    CABLE_CHANNELS,
    CP_CHANNELS,
    DIODE_BYPASS,
    PE_BREAK,
    RCD_AC_30MA,
    RCD_DC_6MA,
    STATE_CHANNELS,
)
from rig.sim.plant import CP_STATES, Plant

log = logging.getLogger(__name__)

ID_COMMAND, ID_STATUS, ID_PILOT, ID_IDENT = 0x300, 0x301, 0x302, 0x3FF
MODEL = 0x4556
"""EVB_Ident.model of a board of the reference design."""
PP_CODE_A = {1: 13, 2: 20, 3: 32, 4: 63}  # EVB_Command/EVB_Status pp_code -> cable rating, A (the contract's coding)
PP_CODE_SWITCH = {code: CABLE_CHANNELS[amps] for code, amps in PP_CODE_A.items()}
SWITCH_PP_CODE = {v: k for k, v in PP_CODE_SWITCH.items()}
STATUS_PERIOD_S = 0.010


def pack(fields: list[tuple[int, int, int]]) -> bytes:
    """Pack (start bit, length, value) little-endian signals into 8 bytes (negative values two's complement)."""
    word = 0
    for start, length, value in fields:
        word |= (int(value) & ((1 << length) - 1)) << start
    return word.to_bytes(8, "little")


def unpack(data: bytes | bytearray, start: int, length: int, signed: bool = False) -> int:
    """Extract one little-endian signal."""
    word = int.from_bytes(bytes(data).ljust(8, b"\0"), "little")
    value = (word >> start) & ((1 << length) - 1)
    if signed and value & (1 << (length - 1)):
        value -= 1 << length
    return value


def decode_command(data: bytes | bytearray) -> dict[str, int]:
    """Decode EVB_Command."""
    return {
        "cp_state": unpack(data, 0, 4),
        "diode_bypass": unpack(data, 4, 1),
        "pe_break": unpack(data, 5, 1),
        "rcd_ac_30ma": unpack(data, 6, 1),
        "rcd_dc_6ma": unpack(data, 7, 1),
        "pp_code": unpack(data, 8, 3),
        "ev_max_current": unpack(data, 16, 16),
        "seq": unpack(data, 32, 8),
    }


def encode_command(cmd: dict[str, int]) -> bytes:
    """Encode EVB_Command (for tests and tools)."""
    return pack(
        [
            (0, 4, cmd.get("cp_state", 0)),
            (4, 1, cmd.get("diode_bypass", 0)),
            (5, 1, cmd.get("pe_break", 0)),
            (6, 1, cmd.get("rcd_ac_30ma", 0)),
            (7, 1, cmd.get("rcd_dc_6ma", 0)),
            (8, 3, cmd.get("pp_code", 0)),
            (16, 16, cmd.get("ev_max_current", 320)),
            (32, 8, cmd.get("seq", 0)),
        ]
    )


class CanEvBoard:
    """The EV emulator board on a python-can bus.

    Args:
        plant: the plant.
        channel: bus channel (udp_multicast group, default ``239.74.163.2``).
        params: ``interface`` (``udp_multicast``), ``port`` (UDP port, 43113), ``model`` (0x4556; another value
            plays a board of another design), ``serial`` (1), ``fw_major`` / ``fw_minor`` (1.0).
    """

    def __init__(self, plant: Plant, channel: str | None = None, params: dict[str, Any] | None = None) -> None:
        self.plant = plant
        self.params = dict(params or {})
        self.interface = str(self.params.get("interface", "udp_multicast"))
        self.channel = channel or "239.74.163.2"
        self.port = int(self.params.get("port", 43113))
        self.cp_state = 0
        self.ack_seq = 0
        self.bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[bytes, bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def address(self) -> dict[str, Any]:
        """Where drivers find the board."""
        return {"interface": self.interface, "channel": self.channel, "port": self.port}

    async def start(self) -> None:
        """Open the bus, announce the identity, start the 10 ms status loop."""
        self._loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {"interface": self.interface, "channel": self.channel}
        if self.interface == "udp_multicast":
            kwargs.update(port=self.port, fd=False)
        self.bus = can.Bus(**kwargs)
        self._notifier = can.Notifier(self.bus, [self._on_message], loop=self._loop)
        self.plant.add_listener(self._on_plant_change)
        self._send_ident()
        self._task = asyncio.create_task(self._periodic())

    async def stop(self) -> None:
        """Stop sending and close the bus."""
        self.plant.remove_listener(self._on_plant_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._notifier is not None:
            self._notifier.stop(timeout=1.0)
            self._notifier = None
        if self.bus is not None:
            self.bus.shutdown()
            self.bus = None

    # ---- receiving ---------------------------------------------------------------------------------------
    def _on_message(self, msg: can.Message) -> None:
        if msg.is_extended_id:
            return
        if msg.arbitration_id == ID_IDENT and msg.is_remote_frame:
            self._send_ident()
        elif msg.arbitration_id == ID_COMMAND and not msg.is_remote_frame:
            self.apply(decode_command(msg.data))

    def apply(self, cmd: dict[str, int]) -> None:
        """Apply a decoded EVB_Command to the plant at one instant."""
        cp = cmd["cp_state"]
        if cp > 5:
            log.warning("EVB_Command with invalid cp_state %d ignored", cp)
            return
        closed = STATE_CHANNELS.get(CP_STATES[cp], frozenset())  # F: the CP line disconnected, as in A
        switches = {channel: channel in closed for channel in CP_CHANNELS}
        switches |= {
            DIODE_BYPASS: bool(cmd["diode_bypass"]),
            PE_BREAK: bool(cmd["pe_break"]),
            RCD_AC_30MA: bool(cmd["rcd_ac_30ma"]),
            RCD_DC_6MA: bool(cmd["rcd_dc_6ma"]),
        }
        for code, name in PP_CODE_SWITCH.items():
            switches[name] = cmd["pp_code"] == code
        self.cp_state = cp
        self.ack_seq = cmd["seq"]
        self.plant.ev_max_current_a = cmd["ev_max_current"] / 10.0
        self.plant.set_switches(switches)

    # ---- sending -----------------------------------------------------------------------------------------
    def _send(self, arb_id: int, data: bytes) -> None:
        if self.bus is None:
            return
        try:
            self.bus.send(can.Message(arbitration_id=arb_id, data=data, is_extended_id=False))
        except can.CanError as exc:
            log.warning("CAN board send 0x%03X failed: %s", arb_id, exc)

    def _send_ident(self) -> None:
        p = self.params
        self._send(
            ID_IDENT,
            pack(
                [
                    (0, 16, int(p.get("model", MODEL))),
                    (16, 8, int(p.get("fw_major", 1))),
                    (24, 8, int(p.get("fw_minor", 0))),
                    (32, 32, int(p.get("serial", 1))),
                ]
            ),
        )

    def frames(self) -> tuple[bytes, bytes]:
        """(EVB_Status, EVB_Pilot) payloads for the present plant state."""
        pl = self.plant
        p = pl.pilot()
        pp = next((c for name, c in SWITCH_PP_CODE.items() if pl.switches[name]), 0)
        status = pack(
            [
                (0, 4, self.cp_state),
                (4, 3, pp),
                (8, 8, self.ack_seq),
                (16, 16, round(p.high_v * 1000)),
                (32, 16, round(p.low_v * 1000)),
                (48, 16, round(pl.ev_current_a() * 10)),
            ]
        )
        pilot = pack(
            [
                (0, 16, round(p.frequency_hz)),
                (16, 14, round(min(max(p.duty_pct, 0.0), 100.0) * 100)),  # a measured duty: 0..100 %
                (30, 1, int(pl.contactor)),
                (31, 1, int(p.pwm)),
                (32, 32, pl.board_ms()),
            ]
        )
        return status, pilot

    def _send_status(self) -> None:
        status, pilot = self.frames()
        self._send(ID_STATUS, status)
        self._send(ID_PILOT, pilot)
        self._last = (status, pilot[:4])

    def _on_plant_change(self, plant: Plant) -> None:
        status, pilot = self.frames()
        if self._last != (status, pilot[:4]):
            self._send_status()

    async def _periodic(self) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            self._send_status()
            next_t += STATUS_PERIOD_S
            await asyncio.sleep(max(0.0, next_t - loop.time()))
