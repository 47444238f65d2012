"""Byte-exact frames of the CAN EV emulator board driver (the rig's own reference design: docs/bench-protocols.md
section 4, ``rig/instruments/ev_board.dbc``).

Frames are written out as bytes here, not encoded with the DBC, so a change of the DBC's layout fails these tests;
one test checks that the DBC encodes exactly these bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig.errors import InstrumentError
from rig.instruments import registry
from rig.instruments.can_ev_board import CanEvBoard, load_dbc
from rig.instruments.capabilities import EvBoardCommand, EvEmulatorBoard, Identity, PilotMeter, PilotReading
from rig.instruments.scripted import FrameEntry, ScriptedFrameTransport

ADDRESS = "virtual:evb"
H = bytes.fromhex

# EVB_Command 0x300: cp_state | diode<<4 | pe<<5 | rcd_ac<<6 | rcd_dc<<7, pp_code, ev_max_current (0.1 A, LE), seq
CMD_B_32A = H("01 03 40 01 01 00 00 00")  # B, 32 A cable, 32.0 A, seq 1
CMD_C_ALL_FAULTS = H("f2 03 a0 00 02 00 00 00")  # C, every fault, 32 A cable, 16.0 A, seq 2
CMD_A_SAFE = H("00 00 40 01 03 00 00 00")  # A, no cable, 32.0 A, seq 3
# EVB_Status 0x301: cp_state_applied | pp_code<<4, ack_seq, cp_high_mv, cp_low_mv (int16 LE), ev_current (0.1 A)
STATUS_ACK0 = H("00 00 e0 2e 20 d1 00 00")  # A, ack 0, +12.000 V / -12.000 V, 0 A
STATUS_ACK1_B = H("31 01 28 23 20 d1 00 00")  # B, 32 A cable, ack 1, +9.000 V / -12.000 V
STATUS_ACK2_C = H("32 02 70 17 20 d1 9e 00")  # C, 32 A cable, ack 2, +6.000 V / -12.000 V, 15.8 A
STATUS_ACK3_A = H("00 03 e0 2e 20 d1 00 00")  # A, ack 3
# EVB_Pilot 0x302: cp_freq_hz (LE16), cp_duty 14 bits (0.01 %) | contactor<<14 | pwm_on<<15, board_time_ms (LE32)
PILOT_PWM = H("e8 03 d5 d4 40 e2 01 00")  # 1000 Hz, 53.33 %, contactor closed, PWM on, 123.456 s
# EVB_Ident 0x3FF: model (LE16), fw_major, fw_minor, serial (LE32)
IDENT = H("56 45 01 07 92 10 00 00")  # model 0x4556, firmware 1.7, serial 4242
REMOTE_IDENT: FrameEntry = ("send", 0x3FF, bytes(8), "remote")


@pytest.fixture
def boards() -> Iterator[list[CanEvBoard]]:
    made: list[CanEvBoard] = []
    yield made
    for b in made:
        b.close()


def make(
    script: list[FrameEntry], boards: list[CanEvBoard], ack_timeout_s: float = 1.0
) -> tuple[CanEvBoard, ScriptedFrameTransport]:
    t = ScriptedFrameTransport(script, role="ev_board", address=ADDRESS)
    b = registry.make_instrument("ev_board", "can_ev_board", t, ack_timeout_s=ack_timeout_s)
    assert isinstance(b, CanEvBoard)
    boards.append(b)
    return b, t


def test_the_dbc_encodes_these_bytes() -> None:
    db = load_dbc()
    assert [(m.frame_id, m.name, m.length) for m in db.messages] == [
        (0x300, "EVB_Command", 8),
        (0x301, "EVB_Status", 8),
        (0x302, "EVB_Pilot", 8),
        (0x3FF, "EVB_Ident", 8),
    ]
    encode = {m.name: m for m in db.messages}

    def raw(name: str, **signals: int) -> bytes:
        values = {s.name: 0 for s in encode[name].signals} | signals
        data: bytes = encode[name].encode(values, scaling=False)
        return data

    assert raw("EVB_Command", cp_state=1, pp_code=3, ev_max_current=320, seq=1) == CMD_B_32A
    faults = {"diode_bypass": 1, "pe_break": 1, "rcd_ac_30ma": 1, "rcd_dc_6ma": 1}
    assert raw("EVB_Command", cp_state=2, pp_code=3, ev_max_current=160, seq=2, **faults) == CMD_C_ALL_FAULTS
    assert raw("EVB_Status", cp_state_applied=1, pp_code=3, ack_seq=1, cp_high_mv=9000, cp_low_mv=-12000) == (
        STATUS_ACK1_B
    )
    pilot = raw("EVB_Pilot", cp_freq_hz=1000, cp_duty=5333, contactor=1, pwm_on=1, board_time_ms=123456)
    assert pilot == PILOT_PWM
    assert raw("EVB_Ident", model=0x4556, fw_major=1, fw_minor=7, serial=4242) == IDENT


def test_apply_sends_each_command_and_waits_for_its_acknowledgement(boards: list[CanEvBoard]) -> None:
    b, t = make(
        [
            ("send", 0x300, CMD_B_32A),
            ("recv", 0x301, STATUS_ACK0),  # an older status first: still waiting
            ("recv", 0x301, STATUS_ACK1_B),
            ("send", 0x300, CMD_C_ALL_FAULTS),
            ("recv", 0x301, STATUS_ACK2_C),
            ("send", 0x300, CMD_A_SAFE),
            ("recv", 0x301, STATUS_ACK3_A),
        ],
        boards,
    )
    assert isinstance(b, EvEmulatorBoard) and isinstance(b, PilotMeter)
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


def test_pilot_contactor_current_and_identity(boards: list[CanEvBoard]) -> None:
    b, t = make(
        [
            ("recv", 0x302, PILOT_PWM),
            ("recv", 0x301, STATUS_ACK0),
            REMOTE_IDENT,
            ("recv", 0x3FF, IDENT),
        ],
        boards,
    )
    t.wait_consumed(timeout_s=0.05)  # pilot and status are read in the background before the remote frame is due
    assert b.pilot() == PilotReading(1000.0, 53.33, 12.0, -12.0, 123.456)
    assert b.contactor_closed() is True
    assert b.ev_current() == 0.0
    assert b.identity() == Identity("rig reference design", "EV emulator board", "4242", "1.7")
    assert b.identity().serial == "4242"  # the first EVB_Ident is kept: no second remote frame
    t.assert_done()


def test_frames_of_other_ids_and_short_frames_are_ignored(boards: list[CanEvBoard]) -> None:
    b, t = make(
        [
            ("recv", 0x303, H("01 01 40 e2 01 00 00 00")),  # the edge frame of an older board design: not read
            ("recv", 0x300, CMD_B_32A),  # a command of another host on the bus
            ("recv", 0x302, H("e8 03")),  # too short
            ("recv", 0x302, PILOT_PWM),
            ("recv", 0x301, STATUS_ACK0),
        ],
        boards,
    )
    t.wait_consumed()
    assert b.pilot().duty_pct == 53.33
    t.assert_done()


def test_another_board_model_is_refused(boards: list[CanEvBoard]) -> None:
    b, t = make([REMOTE_IDENT, ("recv", 0x3FF, H("51 0e 01 07 92 10 00 00"))], boards)
    with pytest.raises(InstrumentError, match=r"EVB_Ident \(0x3FF\) gives model 0x0E51") as info:
        b.identity()
    assert (info.value.role, info.value.address) == ("ev_board", ADDRESS)
    assert info.value.last_command == "send 0x3FF#0000000000000000 remote"
    assert "model 0x4556" in str(info.value)
    t.assert_done()


def test_a_duty_above_100_percent_is_refused(boards: list[CanEvBoard]) -> None:
    b, t = make([("recv", 0x302, H("e8 03 11 27 00 00 00 00")), ("recv", 0x301, STATUS_ACK0)], boards)
    t.wait_consumed()
    with pytest.raises(InstrumentError, match=r"EVB_Pilot \(0x302\) gives cp_duty 100.01 %, outside 0..100 %"):
        b.pilot()
    t.assert_done()


def test_apply_timeout_names_role_address_and_frame(boards: list[CanEvBoard]) -> None:
    b, t = make([("send", 0x300, CMD_B_32A), ("recv", 0x301, STATUS_ACK0)], boards, ack_timeout_s=0.2)
    with pytest.raises(
        InstrumentError, match=r"no EVB_Status acknowledging seq 1 within 0\.2 s \(last ack_seq 0\)"
    ) as e:
        b.apply(EvBoardCommand("B", pp_amps=32))
    assert (e.value.role, e.value.address) == ("ev_board", ADDRESS)
    assert e.value.last_command == f"send 0x300#{CMD_B_32A.hex()}"
    t.assert_done()


def test_apply_state_mismatch(boards: list[CanEvBoard]) -> None:
    b, t = make([("send", 0x300, CMD_B_32A), ("recv", 0x301, H("32 01 70 17 20 d1 00 00"))], boards)
    with pytest.raises(InstrumentError, match=r"applies cp_state/pp_code \(2, 3\), commanded \(1, 3\)"):
        b.apply(EvBoardCommand("B", pp_amps=32))
    t.assert_done()


def test_apply_rejects_what_the_frame_cannot_carry(boards: list[CanEvBoard]) -> None:
    b, t = make([], boards)
    with pytest.raises(ValueError, match="cp_state"):
        b.apply(EvBoardCommand("X"))
    with pytest.raises(ValueError, match="pp_amps"):
        b.apply(EvBoardCommand("A", pp_amps=16))
    with pytest.raises(ValueError, match="ev_max_current_a"):
        b.apply(EvBoardCommand("A", ev_max_current_a=7000.0))
    t.assert_done()


def test_no_frames_is_an_instrument_error(boards: list[CanEvBoard]) -> None:
    b, _ = make([], boards, ack_timeout_s=0.1)
    with pytest.raises(InstrumentError, match=r"no EVB_Pilot frame received within 0\.1 s"):
        b.pilot()


def test_close_stops_the_reader(boards: list[CanEvBoard]) -> None:
    b, t = make([], boards)
    b.close()
    b.close()
    assert not t.is_open and t.closed == 1
