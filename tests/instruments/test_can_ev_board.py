"""Exact frames of the CAN EV emulator board driver (docs/bench-protocols.md section 4, ev_board.dbc)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig.errors import InstrumentError
from rig.instruments.can_ev_board import CanEvBoard, load_dbc
from rig.instruments.capabilities import Edge, EvBoardCommand, EvEmulatorBoard, Identity, PilotReading
from rig.instruments.scripted import ScriptedFrameTransport

DB = load_dbc()


def frame(name: str, **signals: int) -> bytes:
    msg = DB.get_message_by_name(name)
    values = {s.name: 0 for s in msg.signals}
    values.update(signals)
    data: bytes = msg.encode(values, scaling=False)
    return data


def status(ack: int, cp: int = 0, pp: int = 0, high: int = 12000, low: int = -12000, current: int = 0) -> bytes:
    return frame(
        "EVB_Status", cp_state_applied=cp, pp_code=pp, ack_seq=ack, cp_high_mv=high, cp_low_mv=low, ev_current=current
    )


@pytest.fixture
def board_factory() -> Iterator[list[CanEvBoard]]:
    boards: list[CanEvBoard] = []
    yield boards
    for b in boards:
        b.close()


def make(
    script: list[tuple[object, ...]], boards: list[CanEvBoard], ack_timeout_s: float = 1.0
) -> tuple[CanEvBoard, ScriptedFrameTransport]:
    t = ScriptedFrameTransport(script, role="ev_board", address="virtual:evb")
    b = CanEvBoard("ev_board", t, ack_timeout_s=ack_timeout_s)
    boards.append(b)
    b.open()
    return b, t


def test_command_layout_is_the_contract() -> None:
    # cp_state C, diode bypass, pe break off, rcd ac on, rcd dc off, pp 32 A, 16.0 A, seq 7
    data = frame("EVB_Command", cp_state=2, diode_bypass=1, rcd_ac_30ma=1, pp_code=3, ev_max_current=160, seq=7)
    assert data == bytes([0x52, 0x03, 0xA0, 0x00, 0x07, 0, 0, 0])
    assert [m.frame_id for m in DB.messages] == [0x300, 0x301, 0x302, 0x303, 0x3FF]
    assert all(m.length == 8 for m in DB.messages)


def test_apply_sends_incrementing_seq_and_waits_for_ack(board_factory: list[CanEvBoard]) -> None:
    cmd1 = frame("EVB_Command", cp_state=1, pp_code=3, ev_max_current=320, seq=1)
    cmd2 = frame(
        "EVB_Command",
        cp_state=2,
        pp_code=3,
        ev_max_current=160,
        seq=2,
        diode_bypass=1,
        pe_break=1,
        rcd_ac_30ma=1,
        rcd_dc_6ma=1,
    )
    cmd3 = frame("EVB_Command", cp_state=0, pp_code=0, ev_max_current=320, seq=3)
    b, t = make(
        [
            ("send", 0x300, cmd1),
            ("recv", 0x301, status(ack=0, cp=0)),  # an older status first: still waiting
            ("recv", 0x301, status(ack=1, cp=1, pp=3, high=9000)),
            ("send", 0x300, cmd2),
            ("recv", 0x301, status(ack=2, cp=2, pp=3, high=6000, current=158)),
            ("send", 0x300, cmd3),
            ("recv", 0x301, status(ack=3)),
        ],
        board_factory,
    )
    assert isinstance(b, EvEmulatorBoard)
    b.apply(EvBoardCommand(cp_state="B", pp_amps=32, ev_max_current_a=32.0))
    b.apply(
        EvBoardCommand(
            "C", diode_bypass=True, pe_break=True, rcd_ac_30ma=True, rcd_dc_6ma=True, pp_amps=32, ev_max_current_a=16.0
        )
    )
    assert b.ev_current() == 15.8
    assert b.status["cp_high_mv"] == 6000
    b.safe_state()
    t.assert_done()


def test_apply_timeout_names_role_address_and_frame(board_factory: list[CanEvBoard]) -> None:
    cmd = frame("EVB_Command", cp_state=1, ev_max_current=320, seq=1)
    b, t = make([("send", 0x300, cmd), ("recv", 0x301, status(ack=0))], board_factory, ack_timeout_s=0.2)
    with pytest.raises(InstrumentError, match=r"no EVB_Status acknowledging seq 1 within 0\.2 s") as info:
        b.apply(EvBoardCommand("B"))
    assert info.value.role == "ev_board" and info.value.address == "virtual:evb"
    assert info.value.last_command == f"send 0x300#{cmd.hex()}"
    t.assert_done()


def test_apply_state_mismatch(board_factory: list[CanEvBoard]) -> None:
    cmd = frame("EVB_Command", cp_state=3, ev_max_current=320, seq=1)
    b, t = make([("send", 0x300, cmd), ("recv", 0x301, status(ack=1, cp=2))], board_factory)
    with pytest.raises(InstrumentError, match="applies cp_state/pp_code"):
        b.apply(EvBoardCommand("D"))
    t.assert_done()


def test_apply_rejects_bad_values(board_factory: list[CanEvBoard]) -> None:
    b, t = make([], board_factory)
    with pytest.raises(ValueError, match="cp_state"):
        b.apply(EvBoardCommand("X"))
    with pytest.raises(ValueError, match="pp_amps"):
        b.apply(EvBoardCommand("A", pp_amps=16))
    t.assert_done()


def test_pilot_edges_identity(board_factory: list[CanEvBoard]) -> None:
    b, t = make(
        [
            (
                "recv",
                0x302,
                frame("EVB_Pilot", cp_freq_hz=1000, cp_duty=5333, contactor=1, pwm_on=1, board_time_ms=123456),
            ),
            ("recv", 0x301, status(ack=0, high=9012, low=-11987, current=160)),
            ("recv", 0x303, frame("EVB_Edge", signal=1, level=1, board_time_ms=120000)),
            ("recv", 0x303, frame("EVB_Edge", signal=3, level=1, board_time_ms=121500)),
            ("send", 0x3FF, bytes(8), "remote"),
            ("recv", 0x3FF, frame("EVB_Ident", model=0x0E51, fw_major=1, fw_minor=7, serial=4242)),
        ],
        board_factory,
    )
    assert b.pilot() == PilotReading(1000.0, 53.33, 9.012, -11.987, 123.456)
    assert b.contactor_closed() is True
    assert b.now_s() == 123.456
    assert b.ev_current() == 16.0
    t.wait_consumed(timeout_s=0.05)  # the edges are read in the background, before the remote frame is due
    assert b.identity() == Identity("rig EV emulator board", "model 0x0E51", "4242", "1.7")
    assert b.edges() == [Edge("PWM_ON", 120.0, 1), Edge("CONTACTOR_CLOSED", 121.5, 1)]
    b.clear_edges()
    assert b.edges() == []
    t.assert_done()


def test_no_frames_is_an_instrument_error(board_factory: list[CanEvBoard]) -> None:
    b, _ = make([], board_factory, ack_timeout_s=0.1)
    with pytest.raises(InstrumentError, match=r"no EVB_Pilot frame received within 0\.1 s"):
        b.pilot()


def test_close_stops_the_reader(board_factory: list[CanEvBoard]) -> None:
    b, t = make([], board_factory)
    b.close()
    b.close()
    assert not t.is_open and t.closed == 1
