"""The virtual bench: one plant, one server per instrument role, the link to the virtual EVSE — one asyncio loop.

Spec (JSON, generated from rig.yaml by the config code; every key but ``roles`` optional)::

    {
      "host": "127.0.0.1",
      "plant": {"phases": 1, "ev_max_current_a": 32, "tethered": true, "contactor_feedback": true,
                "temperature_c": 25, "ac_on": false, "ac_voltage": 230, "ac_frequency": 50},
      "roles": {
        "grid":  {"driver": "chroma_61500", "port": 5025, "params": {"serial": "X1"}},
        "meter": {"driver": "eastron_sdm630", "port": 5020, "params": {"unit_id": 1}},
        "daq":   {"driver": "keysight_daq970a", "port": 5026, "params": {"slot": 3},
                  "wiring": {"cp_connect": 1, "s2_c": 2, "s2_d": 3, "diode_bypass": 4, "cp_pe_short": 5,
                             "pe_break": 6, "rcd_ac_30ma": 7, "rcd_dc_6ma": 8, "pp_100": 9, "pp_220": 10,
                             "pp_680": 11, "pp_1500": 12}},
        "ev":    {"driver": "can_ev_board", "channel": "239.74.163.2", "params": {"port": 43113}}
      }
    }

Drivers: ``chroma_61500``, ``ametek_sequoia``, ``keysight_ac6800``, ``yokogawa_wt``, ``keysight_daq970a``,
``keysight_infiniivision`` (SCPI/TCP; the scope probes the plant's signals named by ``params.channels``,
:mod:`rig.sim.scope_signals`); ``eastron_sdm630``, ``carlo_gavazzi_em340``, ``waveshare_relay``, ``labjack_t7``
(Modbus TCP); ``can_ev_board`` (python-can,
``params.interface`` default ``udp_multicast``). ``port`` 0 (default) = any free port; ``host`` per role overrides
the top-level one. ``wiring`` (relay instruments) maps the wiring channel names of docs/bench-protocols.md §3 to
relay numbers (1-based). Per-driver ``params``: see the server classes.

Process::

    python -m rig.sim.virtual_bench --spec spec.json [--evse-port hw.sock] [--plant-log plant.jsonl] \
        [--control control.fifo]

prints one line ``{"event":"ready","roles":{role: {"driver":…, "host":…, "port":…} | {"interface":…,
"channel":…, "port":…}},"evse_port":…,"plant_log":…,"pid":…}`` on stdout when everything listens (and the EVSE is
attached); with an EVSE, then one line ``{"event":"evse_supply","supplied":…,"t_s":…}`` whenever the EVSE's supply
is lost or back (:mod:`rig.sim.supply`; ``t_s`` on the plant clock, ``time.monotonic``'s); logs to stderr, and on
SIGTERM/SIGINT stops every server, detaches from the EVSE, writes the plant's last state (``"final": true``) to the
plant log and exits 0. Exit code 2 for a bad spec, 1 if a server cannot start.

``--control`` makes a FIFO (mode 0600) on which the bench takes one JSON line per order, for tests that lose an
instrument mid-run as a lab does when one loses its power or its network: ``{"power": "off", "role": "meter"}``
stops that role's server (its listener closed, its connections dropped, as a switched-off instrument's are), prints
``{"event":"power","role":…,"on":false}`` and leaves the plant and the other roles running. A line that is not such
an order is logged and ignored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rig.bench.mains import NOMINAL_MAINS_HZ, NOMINAL_MAINS_V
from rig.sim.plant import Clock, Plant

if TYPE_CHECKING:
    from rig.sim.evse_link import EvseLink
    from rig.sim.supply import EvseSupply

log = logging.getLogger(__name__)

SCPI_DRIVERS = {
    "chroma_61500",
    "ametek_sequoia",
    "keysight_ac6800",
    "yokogawa_wt",
    "keysight_daq970a",
    "keysight_infiniivision",
}
MODBUS_DRIVERS = {"eastron_sdm630", "carlo_gavazzi_em340", "waveshare_relay", "labjack_t7"}
CAN_DRIVERS = {"can_ev_board"}
DRIVERS = SCPI_DRIVERS | MODBUS_DRIVERS | CAN_DRIVERS
PLANT_KEYS = {
    "phases",
    "ev_max_current_a",
    "tethered",
    "contactor_feedback",
    "temperature_c",
    "ac_on",
    "ac_voltage",
    "ac_frequency",
}
ROLE_KEYS = {"driver", "host", "port", "channel", "params", "wiring"}


class InstrumentServer(Protocol):
    """What the bench needs of every instrument server: stopping it."""

    async def stop(self) -> None:
        """Stop serving and release the port or bus."""
        ...


class TcpInstrumentServer(InstrumentServer, Protocol):
    """An instrument server on a TCP port (SCPI or Modbus TCP)."""

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (0 = any free port); return the bound address."""
        ...


class SpecError(ValueError):
    """The bench spec is malformed (message names the key)."""


def check_spec(spec: dict[str, Any]) -> None:
    """Validate a bench spec; raise SpecError naming the offending key."""
    if not isinstance(spec, dict) or not isinstance(spec.get("roles"), dict):
        raise SpecError("spec must be an object with a 'roles' object")
    extra = set(spec) - {"host", "plant", "roles"}
    if extra:
        raise SpecError(f"unknown spec keys: {sorted(extra)}")
    bad = set(spec.get("plant", {})) - PLANT_KEYS
    if bad:
        raise SpecError(f"unknown plant keys: {sorted(bad)}; known: {sorted(PLANT_KEYS)}")
    for role, r in spec["roles"].items():
        if not isinstance(r, dict):
            raise SpecError(f"roles.{role} must be an object")
        if r.get("driver") not in DRIVERS:
            raise SpecError(f"roles.{role}.driver {r.get('driver')!r} unknown; known: {sorted(DRIVERS)}")
        bad = set(r) - ROLE_KEYS
        if bad:
            raise SpecError(f"roles.{role}: unknown keys {sorted(bad)}")


class VirtualBench:
    """Plant + instrument servers + EVSE link.

    Args:
        spec: the bench spec (module docstring).
        evse_port: the virtual EVSE's hardware-port socket; None = no EVSE attached.
        plant_log: JSON-lines plant state log.
        clock: the plant's clock (default: the real one; tests drive the servers on simulated time).
        on_supply: with an EVSE, called with (supplied, plant time ns) when its supply is lost or back.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        evse_port: Path | None = None,
        plant_log: Path | None = None,
        *,
        clock: Clock | None = None,
        on_supply: Callable[[bool, int], None] | None = None,
    ) -> None:
        check_spec(spec)
        self.spec = spec
        self.evse_port = evse_port
        self.plant_log = plant_log
        pc = dict(spec.get("plant", {}))
        self.plant = Plant(
            phases=int(pc.get("phases", 1)),
            ev_max_current_a=float(pc.get("ev_max_current_a", 32.0)),
            tethered=bool(pc.get("tethered", True)),
            contactor_feedback=bool(pc.get("contactor_feedback", True)),
            log_path=plant_log,
            clock=clock,
        )
        self.plant.temperature_c = float(pc.get("temperature_c", 25.0))
        self.plant.ac_setpoint_v = float(pc.get("ac_voltage", NOMINAL_MAINS_V))
        self.plant.ac_frequency_hz = float(pc.get("ac_frequency", NOMINAL_MAINS_HZ))
        self.plant.ac_on = bool(pc.get("ac_on", False))
        self.plant.restart_signal_history()  # the attributes above hold from the plant's start
        self.servers: dict[str, InstrumentServer] = {}
        self.addresses: dict[str, dict[str, Any]] = {}
        self.link: EvseLink | None = None
        self.on_supply = on_supply
        self.supply: EvseSupply | None = None

    def _make_tcp(self, drv: str, params: dict[str, Any], wiring: dict[str, int] | None) -> TcpInstrumentServer:
        if drv in SCPI_DRIVERS:
            from rig.sim import ac_sources, daq, scpi

            if drv == "keysight_infiniivision":
                return self._make_scope(params)
            if drv == "keysight_daq970a":
                return daq.KeysightDaq970a(self.plant, params, wiring)
            cls: dict[str, type[scpi.ScpiServer]] = {
                "chroma_61500": ac_sources.Chroma61500,
                "ametek_sequoia": ac_sources.AmetekSequoia,
                "keysight_ac6800": ac_sources.KeysightAc6800,
                "yokogawa_wt": scpi.YokogawaWt,
            }
            return cls[drv](self.plant, params)
        if drv == "labjack_t7":
            from rig.sim.labjack import VirtualT7

            return VirtualT7(self.plant, params)
        from rig.sim import modbus

        if drv == "waveshare_relay":
            from rig.sim.relays import WaveshareRelay

            return WaveshareRelay(self.plant, params, wiring)
        mcls: dict[str, type[modbus.ModbusDevice]] = {
            "eastron_sdm630": modbus.EastronSdm630,
            "carlo_gavazzi_em340": modbus.CarloGavazziEm340,
        }
        return mcls[drv](self.plant, params)

    def _make_scope(self, params: dict[str, Any]) -> TcpInstrumentServer:
        """The virtual InfiniiVision probing the plant's signals on the inputs of ``params.channels``."""
        from rig.sim.scope import VirtualInfiniiVision
        from rig.sim.scope_signals import SETTLE_S, PlantSignals, channel_numbers

        try:
            signals = PlantSignals(self.plant, channel_numbers(params.get("channels")))
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        # the pilot's rise time is the plant's (scope_signals); the scope's own front end is ns-fast: ideal here
        return VirtualInfiniiVision(signals, clock=signals.now_s, rise_time_s=0.0, settle_s=SETTLE_S)

    async def _start_role(self, role: str, r: dict[str, Any], default_host: str) -> dict[str, Any]:
        """Make and start the server of one role (registered before it starts, so stop() sees it); its address."""
        drv: str = r["driver"]
        params: dict[str, Any] = r.get("params", {})
        if drv in CAN_DRIVERS:
            from rig.sim.can_board import CanEvBoard

            board = CanEvBoard(self.plant, r.get("channel"), params)
            self.servers[role] = board
            await board.start()
            return {"driver": drv, **board.address()}
        server = self._make_tcp(drv, params, r.get("wiring"))
        self.servers[role] = server
        host, port = await server.start(r.get("host", default_host), int(r.get("port", 0)))
        return {"driver": drv, "host": host, "port": port}

    async def start(self) -> dict[str, Any]:
        """Start every server and the EVSE link; returns the ready description."""
        default_host: str = self.spec.get("host", "127.0.0.1")
        try:
            for role, r in self.spec["roles"].items():
                self.addresses[role] = await self._start_role(role, r, default_host)
            if self.evse_port is not None:
                from rig.sim.evse_link import EvseLink

                self.link = EvseLink(self.plant, self.evse_port)
                await self.link.start()
                if self.on_supply is not None:
                    from rig.sim.supply import EvseSupply

                    self.supply = EvseSupply(self.plant, self.on_supply)
        except BaseException:
            await self.stop()
            raise
        return self.ready_info()

    def ready_info(self) -> dict[str, Any]:
        """The ready line's content."""
        return {
            "event": "ready",
            "roles": self.addresses,
            "evse_port": str(self.evse_port) if self.evse_port else None,
            "plant_log": str(self.plant_log) if self.plant_log else None,
            "pid": os.getpid(),
        }

    async def power_off(self, role: str) -> bool:
        """Switch one role's instrument off (its server stopped); False for a role the bench does not serve."""
        server = self.servers.pop(role, None)
        if server is None:
            return False
        await server.stop()
        return True

    async def stop(self) -> None:
        """Stop the link and every server (reverse order), log the plant's last state."""
        if self.supply is not None:
            self.supply.close()
            self.supply = None
        if self.link is not None:
            await self.link.stop()
            self.link = None
        for role in reversed(list(self.servers)):
            try:
                await self.servers[role].stop()
            except Exception:  # stopping must go on
                log.exception("stopping %s failed", role)
        self.servers.clear()
        self.plant.cancel_program()
        self.plant.close()


async def _amain(args: argparse.Namespace) -> int:
    def supply(supplied: bool, t_ns: int) -> None:
        log.info("the EVSE's supply is %s", "back" if supplied else "lost")
        print(json.dumps({"event": "evse_supply", "supplied": supplied, "t_s": t_ns / 1e9}), flush=True)

    try:
        spec = json.loads(Path(args.spec).read_text())
        bench = VirtualBench(
            spec,
            Path(args.evse_port) if args.evse_port else None,
            Path(args.plant_log) if args.plant_log else None,
            on_supply=supply,
        )
    except (OSError, ValueError) as exc:
        print(f"virtual bench: bad spec {args.spec}: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        info = await bench.start()
    except Exception as exc:  # reported, exit 1
        print(f"virtual bench: cannot start: {exc}", file=sys.stderr)
        return 1
    control = _Control(Path(args.control), bench, loop) if args.control else None
    print(json.dumps(info), flush=True)
    await stop.wait()
    if control is not None:
        control.close()
    await bench.stop()
    return 0


class _Control:
    """The ``--control`` FIFO (module docstring): orders read on the event loop, one JSON line each."""

    def __init__(self, path: Path, bench: VirtualBench, loop: asyncio.AbstractEventLoop) -> None:
        self.path, self.bench, self.loop = path, bench, loop
        path.unlink(missing_ok=True)
        os.mkfifo(path, 0o600)
        # read-write: the FIFO never reads as ended while no writer has it open
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self.buffer = b""
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            self.buffer += os.read(self.fd, 4096)
        except BlockingIOError:
            return
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self.loop.create_task(self._order(line))

    async def _order(self, line: bytes) -> None:
        try:
            order = json.loads(line)
            role, power = order["role"], order["power"]
        except (ValueError, KeyError, TypeError):
            log.warning("control: not an order, ignored: %r", line[:200])
            return
        if power != "off" or not isinstance(role, str):
            log.warning("control: unknown order, ignored: %r", line[:200])
            return
        if await self.bench.power_off(role):
            log.warning("control: %s switched off", role)
            print(json.dumps({"event": "power", "role": role, "on": False}), flush=True)
        else:
            log.warning("control: no role %r to switch off", role)

    def close(self) -> None:
        self.loop.remove_reader(self.fd)
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Process entry point."""
    ap = argparse.ArgumentParser(prog="python -m rig.sim.virtual_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--spec", required=True, help="bench spec JSON file")
    ap.add_argument("--evse-port", help="virtual EVSE hardware-port socket")
    ap.add_argument("--plant-log", help="JSON-lines plant state log")
    ap.add_argument("--control", help="FIFO to make for orders such as an instrument switched off (docstring)")
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(_amain(args))


if __name__ == "__main__":
    sys.exit(main())
