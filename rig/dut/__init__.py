"""The DUT: the :class:`Dut` protocol and its kinds, :class:`VirtualDut` and :class:`NetworkDut`.

The only place outside :mod:`rig.sim` that knows which kind of DUT (and bench) a run has.
"""

from __future__ import annotations

from rig.config import RigConfig
from rig.dut.base import Dut, DutDescription, HostNeeds
from rig.dut.network import NetworkDut
from rig.dut.virtual import VirtualDut

__all__ = ["Dut", "DutDescription", "HostNeeds", "NetworkDut", "VirtualDut", "dut_for"]


def dut_for(config: RigConfig) -> Dut:
    """The DUT of rig.yaml (``dut.kind``). Starts nothing.

    Raises:
        ConfigError: settings that do not apply to this kind (e.g. virtual EVSE defects on a network DUT).
    """
    if config.dut.kind == "virtual":
        return VirtualDut(config)
    return NetworkDut(config)
