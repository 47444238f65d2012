"""The virtual Keysight DAQ970A with a DAQM903A actuator module, on a TCP raw socket (docs/bench-protocols.md §3.2).

It answers exactly the ``keysight_daq970a`` driver's commands: ``*IDN?``, ``*CLS``, ``SYST:ERR?``,
``ROUT:CLOS (@list)``, ``ROUT:OPEN (@list)`` and ``ROUT:CLOS? (@list)`` on the module's slot (params ``slot``,
default 3; channels s01..s20). A channel list is ``(@301)``, ``(@301,305)`` or ``(@301:320)``. Anything else
queues ``-113,"Undefined header"`` (a query with an unknown header gets no answer); a channel outside the module
queues ``-224,"Illegal parameter value"`` and changes nothing. The relays drive the plant through the EV emulator's
wiring (:class:`rig.sim.relays.RelayBank`).
"""

from __future__ import annotations

import re
from typing import Any

from rig.sim.plant import Plant
from rig.sim.relays import RelayBank
from rig.sim.scpi import ScpiServer

MODULE_CHANNELS = 20
"""DAQM903A channels s01..s20."""
_CHANNEL_LIST = re.compile(r"\(@([0-9:,\s]+)\)")


def parse_channel_list(arg: str) -> list[int]:
    """Parse an SCPI channel list ``(@301)`` / ``(@301,305)`` / ``(@301:320)`` into channel numbers ``scc``."""
    m = _CHANNEL_LIST.fullmatch(arg.strip())
    if m is None:
        raise ValueError(f"no channel list in {arg!r}")
    channels: list[int] = []
    for part in m.group(1).split(","):
        first, _, last = part.strip().partition(":")
        a = int(first)
        b = int(last) if last else a
        if b < a:
            raise ValueError(f"descending range {part!r}")
        channels.extend(range(a, b + 1))
    return channels


class KeysightDaq970a(ScpiServer):
    """Virtual DAQ970A: 20 independent Form C relays of a DAQM903A in slot ``slot``.

    Args:
        plant: the plant.
        params: ``slot`` (3), ``serial``, ``firmware`` (the ``*IDN?`` fields).
        wiring: wiring channel name -> relay number (1..20).
    """

    vendor = "Keysight Technologies"
    model = "DAQ970A"

    def __init__(self, plant: Plant, params: dict[str, Any] | None = None, wiring: dict[str, int] | None = None):
        params = dict(params or {})
        self.slot = int(params.get("slot", 3))
        if not 1 <= self.slot <= 3:
            raise ValueError(f"slot {self.slot} outside 1..3")
        self.relays = RelayBank(plant, wiring, MODULE_CHANNELS)
        super().__init__(plant, params)

    def add_handlers(self) -> None:
        """The driver's commands only (no ``*RST``)."""
        del self.handlers["*RST"]
        self.handlers.update(
            {
                "SYST:ERR?": lambda _a: self._next_error(),
                "ROUT:CLOS": lambda a: self.relays.set(dict.fromkeys(self._relays(a), True)),
                "ROUT:OPEN": lambda a: self.relays.set(dict.fromkeys(self._relays(a), False)),
                "ROUT:CLOS?": lambda a: ",".join(str(int(self.relays.closed[r])) for r in self._relays(a)),
            }
        )

    def _next_error(self) -> str:
        """The oldest queued error, in the instrument's format (``+0,"No error"`` when the queue is empty)."""
        if not self.errors:
            return '+0,"No error"'
        code, text = self.errors.popleft()
        return f'{code:+d},"{text}"'

    def _relays(self, arg: str) -> list[int]:
        """Relay numbers (1..20) of a channel list on the module's slot; ValueError (queued -224) otherwise."""
        relays: list[int] = []
        for scc in parse_channel_list(arg):
            slot, relay = divmod(scc, 100)
            if slot != self.slot or not 1 <= relay <= MODULE_CHANNELS:
                raise ValueError(f"channel {scc} is not on the DAQM903A in slot {self.slot}")
            relays.append(relay)
        return relays
