"""VISA message transport (pyvisa; pyvisa-py backend by default): the only module importing pyvisa.

Any VISA resource string works: ``TCPIP0::host::5025::SOCKET`` (raw socket, the virtual bench's servers),
``TCPIP0::host::INSTR`` (VXI-11), ``TCPIP0::host::hislip0::INSTR``, ``USB0::...::INSTR``, ``GPIB0::n::INSTR``,
``ASRL/dev/ttyUSB0::INSTR``. ``visa_library`` selects the VISA implementation (``"@py"`` = pyvisa-py, ``""`` = the
system's NI/Keysight VISA, or a path).
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from rig.errors import InstrumentError
from rig.instruments.transport import log_exchange

if TYPE_CHECKING:
    import numpy.typing as npt
    from pyvisa import ResourceManager
    from pyvisa.resources import MessageBasedResource


class VisaTransport:
    """MessageTransport over pyvisa: one command per line, every exchange logged, every wait bounded.

    Args:
        role: the bench role (for logs and errors).
        resource: the VISA resource string.
        visa_library: the pyvisa library spec, ``"@py"`` for pyvisa-py.
        timeout_s: timeout of every read and write, s.
        read_termination: line terminator of answers.
        write_termination: line terminator appended to commands.
    """

    def __init__(
        self,
        role: str,
        resource: str,
        *,
        visa_library: str = "@py",
        timeout_s: float = 2.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
    ) -> None:
        self.role = role
        self.address = resource
        self.visa_library = visa_library
        self.timeout_s = timeout_s
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.last_command = ""
        self._rm: ResourceManager | None = None
        self._inst: MessageBasedResource | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Get whether the resource is open."""
        return self._inst is not None

    def open(self) -> None:
        """Open the resource (idempotent); raise InstrumentError naming role and resource when it cannot."""
        if self._inst is not None:
            return
        try:
            import pyvisa
            from pyvisa.resources import MessageBasedResource
        except ImportError as exc:  # pragma: no cover - pinned dependency
            raise InstrumentError(
                self.role, self.address, f"pyvisa is not installed ({exc}); pip install pyvisa pyvisa-py"
            ) from None
        try:
            self._rm = pyvisa.ResourceManager(self.visa_library)
            inst = self._rm.open_resource(
                self.address,
                timeout=int(self.timeout_s * 1000),
                read_termination=self.read_termination,
                write_termination=self.write_termination,
            )
            if not isinstance(inst, MessageBasedResource):
                inst.close()
                raise ValueError(f"{type(inst).__name__} is not a message-based resource (SOCKET, INSTR, ASRL)")
            if "::SOCKET" in self.address.upper():
                self._no_delay(inst)
            self._inst = inst
        except Exception as exc:  # pyvisa raises VisaIOError, OSError, ValueError depending on the backend
            self._release()
            message = (
                f"cannot open VISA resource ({type(exc).__name__}: {exc}); check the address and that it is reachable"
            )
            log_exchange(self.role, self.address, "(open)", error=message)
            raise InstrumentError(self.role, self.address, message) from None

    @staticmethod
    def _no_delay(inst: MessageBasedResource) -> None:
        """Set VI_ATTR_TCPIP_NODELAY on a raw socket: a command followed by a query is otherwise held back by Nagle's
        algorithm until the instrument acknowledges the command, which it delays (up to 40 ms a pair on Linux)."""
        import socket

        from pyvisa import constants

        try:
            inst.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, constants.VI_TRUE)
            return
        except Exception:  # pyvisa-py 0.8 has the setter but does not route the attribute to it
            pass
        sessions = getattr(inst.visalib, "sessions", {})
        sock = getattr(sessions.get(inst.session), "interface", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        """Close the resource (idempotent). The resource manager stays open: pyvisa hands every transport of one
        VISA library the same manager, and closing it would close the other roles' sessions too."""
        self._release()

    def _release(self) -> None:
        inst = self._inst
        self._inst = None
        self._rm = None
        if inst is not None:
            with contextlib.suppress(Exception):  # the resource is gone either way
                inst.close()

    def _error(self, exc: Exception, command: str, reading: bool) -> InstrumentError:
        timeout = "TMO" in str(exc) or "timeout" in str(exc).lower() or isinstance(exc, TimeoutError)
        if timeout:
            message = f"timeout after {self.timeout_s:g} s " + ("waiting for the answer" if reading else "writing")
        else:
            message = f"I/O error ({type(exc).__name__}: {exc})"
        log_exchange(self.role, self.address, command, error=message)
        return InstrumentError(self.role, self.address, message, command)

    def _require_open(self, command: str) -> MessageBasedResource:
        if self._inst is None:
            self.last_command = command
            raise InstrumentError(self.role, self.address, "transport not open (call open() first)", command)
        return self._inst

    def write(self, command: str) -> None:
        """Send one command line."""
        with self._lock:
            inst = self._require_open(command)
            self.last_command = command
            try:
                inst.write(command)
            except Exception as exc:
                raise self._error(exc, command, reading=False) from None
            log_exchange(self.role, self.address, command)

    def query(self, command: str) -> str:
        """Send one command line and return the answer line (terminator and surrounding blanks stripped)."""
        with self._lock:
            inst = self._require_open(command)
            self.last_command = command
            try:
                inst.write(command)
                answer = str(inst.read()).strip()
            except Exception as exc:
                raise self._error(exc, command, reading=True) from None
            log_exchange(self.role, self.address, command, answer)
            return answer

    def query_binary_values(
        self, command: str, datatype: str, is_big_endian: bool, *, expect_termination: bool = True
    ) -> npt.NDArray[Any]:
        """Send one command and read the IEEE 488.2 definite-length block it answers with pyvisa's
        ``query_binary_values`` (``header_fmt="ieee"``, a numpy container); ``datatype`` is a struct code (``B``,
        ``H``, ...). A malformed block raises InstrumentError and the rest of the answer is discarded."""
        import numpy as np

        with self._lock:
            inst = self._require_open(command)
            self.last_command = command
            try:
                values = inst.query_binary_values(
                    command,
                    datatype=datatype,  # type: ignore[arg-type]  # pyvisa types it as a Literal of struct codes
                    is_big_endian=is_big_endian,
                    container=np.ndarray,  # numpy's frombuffer path, like np.array
                    header_fmt="ieee",
                    expect_termination=expect_termination,
                )
            except Exception as exc:
                _discard_pending(inst)
                if isinstance(exc, ValueError) or type(exc).__name__ == "InvalidBinaryFormat":
                    message = f"malformed IEEE 488.2 block in the answer ({exc})"
                    log_exchange(self.role, self.address, command, error=message)
                    raise InstrumentError(self.role, self.address, message, command) from None
                raise self._error(exc, command, reading=True) from None
            array = np.asarray(values)
            log_exchange(self.role, self.address, command, f"<block of {array.size} x {datatype!r}>")
            return array


def decode_ieee_block(answer: bytes, datatype: str, is_big_endian: bool, termination: str = "") -> npt.NDArray[Any]:
    """Decode one whole answer holding an IEEE 488.2 definite-length block with pyvisa's own parser, as
    ``query_binary_values`` reads it (for the scripted transports of driver tests).

    Raises:
        ValueError: a malformed header (pyvisa's message).
        EOFError: fewer bytes than the header announces (plus ``termination``): a live connection would time out.
    """
    import numpy as np
    from pyvisa import util

    offset, length = util.parse_ieee_block_header(answer)
    length = max(length, 0)  # an indefinite-length block (#0) reads as empty, as query_binary_values returns it
    if len(answer) < offset + length + len(termination):
        raise EOFError(f"the block announces {length} bytes, {max(0, len(answer) - offset)} arrived")
    values = util.from_binary_block(answer, offset, length, datatype, is_big_endian, np.ndarray)  # type: ignore[arg-type]
    return np.asarray(values)


def _discard_pending(inst: MessageBasedResource, bound_s: float = 1.0) -> None:
    """Read and drop what is left of a failed answer (at most ``bound_s``), so the next exchange starts clean.

    Not ``clear()``: pyvisa-py's socket clear never returns once the peer has closed the connection.
    """
    import time

    saved = inst.timeout
    deadline = time.monotonic() + bound_s
    try:
        inst.timeout = 100  # ms: the rest of an answer already on its way arrives within it
        while time.monotonic() < deadline:
            inst.read_raw()
    except Exception:  # the timeout that ends the loop, or a connection already gone
        pass
    finally:
        with contextlib.suppress(Exception):
            inst.timeout = saved
