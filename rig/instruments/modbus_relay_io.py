"""Modbus relay and IO module with pilot capture (e.g. a Waveshare/Sfera-style 16-relay module plus the rig's
pilot-capture firmware), Modbus TCP or RTU.

Manual: the module's register map as given in docs/bench-protocols.md section 3.1 (the defaults below); a module
with another map is described by the constructor's register parameters in rig.yaml.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rig.instruments.capabilities import Edge, Identity, PilotReading
from rig.instruments.driver_base import Driver, check_channel
from rig.instruments.registers import ascii_decode, int16_decode, uint32_hwf_decode
from rig.instruments.transport import RegisterTransport

SIGNAL_NAMES: dict[int, str] = {1: "PWM_ON", 2: "PWM_OFF", 3: "CONTACTOR_CLOSED", 4: "CONTACTOR_OPEN", 5: "CP_STATE"}
"""Edge signal ids of the edge log (shared with the CAN EV board's EVB_Edge)."""


def signal_name(signal_id: int) -> str:
    """Return the edge signal name for an id (``SIGNAL_<id>`` for an unknown one)."""
    return SIGNAL_NAMES.get(signal_id, f"SIGNAL_{signal_id}")


class ModbusRelayIo(Driver[RegisterTransport]):
    """Modbus relay outputs, analog inputs and pilot capture with an edge log.

    Args:
        role: the bench role.
        transport: a RegisterTransport addressing the module's unit id.
        relay_base: relay k (1-based) is coil relay_base + k.
        relay_count: relays on the module.
        capture_base: input register of the capture block (frequency, duty, high, low, sequence, clock x2).
        analog_base: input register of analog input 1.
        analog_count: analog inputs.
        edge_count_register: input register holding the edge count.
        edge_base: input register of edge 0 (4 registers per edge).
        edge_clear_register: holding register cleared by writing 1.
        ident_base: holding register of the 16-char ASCII model (firmware follows, 16 chars).
        vendor: vendor name for the identity.
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = ("RelayIo", "PilotCapture")

    def __init__(
        self,
        role: str,
        transport: RegisterTransport,
        relay_base: int = 0,
        relay_count: int = 16,
        capture_base: int = 0x0000,
        analog_base: int = 0x0010,
        analog_count: int = 16,
        edge_count_register: int = 0x0020,
        edge_base: int = 0x0021,
        edge_clear_register: int = 0x0100,
        ident_base: int = 0x0200,
        vendor: str = "Modbus relay IO",
        **params: Any,
    ) -> None:
        if params:
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(params)}")
        super().__init__(role, transport)
        self.relay_base = relay_base
        self.relay_count = relay_count
        self.capture_base = capture_base
        self.analog_base = analog_base
        self.analog_count = analog_count
        self.edge_count_register = edge_count_register
        self.edge_base = edge_base
        self.edge_clear_register = edge_clear_register
        self.ident_base = ident_base
        self.vendor = vendor

    CAPTURE_REGISTERS: ClassVar[int] = 7  # freq, duty, high, low, sequence, clock hi, clock lo
    EDGE_REGISTERS: ClassVar[int] = 4  # signal, time hi, time lo, level
    EDGES_PER_READ: ClassVar[int] = 30  # 120 registers, under the 125-register limit of FC 04

    @property
    def capture_sequence(self) -> int:
        """Get the capture sequence number (increments on every new capture), 0..65535."""
        return self.transport.read_input_registers(self.capture_base + 4, 1)[0]

    def identity(self) -> Identity:
        """Get the identity: model (holding ident_base, 16 chars) and firmware (the next 16 chars)."""
        words = self.transport.read_holding_registers(self.ident_base, 16)
        return Identity(self.vendor, ascii_decode(words[:8]), "", ascii_decode(words[8:]))

    def set_relay(self, channel: int, closed: bool) -> None:
        """Set relay ``channel`` (1..relay_count) closed (True) or open (False)."""
        check_channel(channel, self.relay_count, "relay channel")
        self.transport.write_coil(self.relay_base + channel, closed)

    def relay(self, channel: int) -> bool:
        """Get whether relay ``channel`` (1..relay_count) is closed."""
        check_channel(channel, self.relay_count, "relay channel")
        return self.transport.read_coils(self.relay_base + channel, 1)[0]

    def open_all(self) -> None:
        """Control: open every relay (one FC 15 write)."""
        self.transport.write_coils(self.relay_base + 1, [False] * self.relay_count)

    def analog_input(self, channel: int) -> float:
        """Measure analog input ``channel`` (1..analog_count), V (register in mV, int16)."""
        check_channel(channel, self.analog_count, "analog channel")
        return int16_decode(self.transport.read_input_registers(self.analog_base + channel - 1, 1)[0]) / 1000.0

    def pilot(self) -> PilotReading:
        """Measure the pilot capture: frequency (Hz), duty (%), high and low level (V), module clock (s)."""
        r = self.transport.read_input_registers(self.capture_base, self.CAPTURE_REGISTERS)
        return PilotReading(
            frequency_hz=float(r[0]),
            duty_pct=r[1] / 100.0,
            high_v=int16_decode(r[2]) / 1000.0,
            low_v=int16_decode(r[3]) / 1000.0,
            t_s=uint32_hwf_decode(r[5:7]) / 1000.0,
        )

    def now_s(self) -> float:
        """Get the module clock (the edge log's), s."""
        return uint32_hwf_decode(self.transport.read_input_registers(self.capture_base + 5, 2)) / 1000.0

    def edges(self) -> list[Edge]:
        """Get the edges logged since the last clear, oldest first (times on the module clock, s)."""
        count = self.transport.read_input_registers(self.edge_count_register, 1)[0]
        result: list[Edge] = []
        for first in range(0, count, self.EDGES_PER_READ):
            n = min(self.EDGES_PER_READ, count - first)
            words = self.transport.read_input_registers(
                self.edge_base + self.EDGE_REGISTERS * first, self.EDGE_REGISTERS * n
            )
            for i in range(n):
                sig, hi, lo, level = words[4 * i : 4 * i + 4]
                result.append(Edge(signal_name(sig), uint32_hwf_decode([hi, lo]) / 1000.0, level))
        return result

    def clear_edges(self) -> None:
        """Control: clear the edge log (write 1 to the clear register)."""
        self.transport.write_register(self.edge_clear_register, 1)

    def safe_state(self) -> None:
        """Control: open every relay."""
        self.open_all()
