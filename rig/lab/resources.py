"""The rig's labgrid resources and drivers (registered with labgrid 26.0.1's ``target_factory``).

A resource says *where* a thing of a bench is; an exporter publishes it and a place groups them. The rig needs no
exporter code for these (labgrid 26.0.1 exporter.py publishes an unknown ``cls`` as a plain entry, parameters
unchanged): only the ``RigBenchControl`` export of :mod:`rig.lab.exporter` acts (it resets a bench on acquire and
release).

* ``MatterDevice(address, port, node_id, discriminator, netns)``: the DUT. No passcode: every client of the
  coordinator can read resource parameters (labgrid has no per-resource secret), so the passcode stays in rig.yaml's
  ``dut.passcode``. ``netns`` names the bench's network where it is a network namespace on the exporter's host
  (a virtual bench), empty for a bench on the lab network.
* ``RigScpiSocket(host, port)``: an SCPI instrument on a raw socket (labgrid's PyVISADriver cannot open
  ``::SOCKET`` resources, labgrid 26.0.1 pyvisadriver.py).
* ``RigModbusDevice(host, port, unit)``: a Modbus TCP instrument (a meter, a relay module).
* ``RigCanBoard(interface, channel, bitrate)``: an EV emulator board on CAN (labgrid has no CAN resource).
* ``RigEvEmulator(via)``: which role drives the EV: the relay instrument or the CAN board.

The drivers resolve the address through labgrid's proxy manager (``proxymanager.get_host_and_port``), so a place
behind an ``--isolated`` exporter is reached through its SSH forward like labgrid's own network drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESOURCE_CLASSES = ("MatterDevice", "RigScpiSocket", "RigModbusDevice", "RigCanBoard", "RigEvEmulator")
"""The labgrid classes of the rig's resources."""
CONTROL_CLASS = "RigBenchControl"
"""The exporter-side resource of :mod:`rig.lab.exporter` (resets its bench on acquire/release)."""

_registered = False


@dataclass(frozen=True)
class Endpoint:
    """A TCP address to connect to (after labgrid's proxy manager: possibly a local SSH forward)."""

    host: str
    port: int


def register() -> None:
    """Register the resources and drivers with labgrid's target factory (once; labgrid refuses a second time)."""
    global _registered
    if _registered:
        return
    import attr
    from labgrid.driver.common import Driver
    from labgrid.factory import target_factory
    from labgrid.resource.common import Resource

    def _str(default: str | None = None) -> Any:
        if default is None:
            return attr.ib(validator=attr.validators.instance_of(str))
        return attr.ib(default=default, validator=attr.validators.instance_of(str))

    def _int(default: int | None = None) -> Any:
        if default is None:
            return attr.ib(converter=int)
        return attr.ib(default=default, converter=int)

    @attr.s(eq=False)
    class MatterDevice(Resource):  # type: ignore[misc]
        """The DUT: a Matter EVSE at ``host`` (its address; the proxy manager's name), Matter UDP ``port``."""

        host = _str()
        port = _int(5540)
        node_id = _int(0x1001)
        discriminator = _int(3840)
        netns = _str("")

    @attr.s(eq=False)
    class RigScpiSocket(Resource):  # type: ignore[misc]
        """An SCPI instrument on a raw TCP socket."""

        host = _str()
        port = _int(5025)

    @attr.s(eq=False)
    class RigModbusDevice(Resource):  # type: ignore[misc]
        """A Modbus TCP instrument."""

        host = _str()
        port = _int(502)
        unit = _int(1)

    @attr.s(eq=False)
    class RigCanBoard(Resource):  # type: ignore[misc]
        """An EV emulator board on a CAN bus (python-can interface and channel)."""

        interface = _str()
        channel = _str()
        bitrate = _int(500000)

    @attr.s(eq=False)
    class RigEvEmulator(Resource):  # type: ignore[misc]
        """The EV emulator: the name of the place's resource it drives (its relay instrument or CAN board)."""

        via = _str()

    @attr.s(eq=False)
    class RigTcpDriver(Driver):  # type: ignore[misc]
        """Resolves a TCP resource's address through labgrid's proxy manager (``endpoint()``)."""

        bindings = {"resource": {"RigScpiSocket", "RigModbusDevice", "MatterDevice"}}  # noqa: RUF012

        def endpoint(self) -> Endpoint:
            from labgrid.util.proxy import proxymanager

            host, port = proxymanager.get_host_and_port(self.resource)
            return Endpoint(str(host), int(port))

    for cls in (MatterDevice, RigScpiSocket, RigModbusDevice, RigCanBoard, RigEvEmulator):
        target_factory.reg_resource(cls)
    target_factory.reg_driver(RigTcpDriver)
    _registered = True


def endpoint_of(cls: str, params: dict[str, Any], extra: dict[str, Any]) -> Endpoint:
    """The address to connect to for a TCP resource as the coordinator lists it, through labgrid's proxy manager
    (an ``--isolated`` exporter's resource is reached through an SSH forward to it; ``LG_PROXY`` forces one)."""
    from labgrid.factory import target_factory
    from labgrid.util.proxy import proxymanager

    register()
    resource = target_factory.make_resource(None, cls, "resolve", dict(params))
    resource.extra = dict(extra)  # as labgrid 26.0.1 resource/remote.py sets it on a place's resources
    host, port = proxymanager.get_host_and_port(resource)
    return Endpoint(str(host), int(port))
