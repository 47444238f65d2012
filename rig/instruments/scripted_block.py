"""A scripted transport at the byte level, for drivers that read IEEE 488.2 blocks (pymeasure's ``expected_protocol``
with the bytes on the wire).

Each entry is ``(written, answer)``: the exact bytes the driver must write (command and write terminator) and the
exact bytes the instrument answers (``None`` for a command without answer, ``TIMEOUT`` for silence). Query answers
are one line with the read terminator; block answers are decoded by pyvisa's own parser, the way
``VisaTransport.query_binary_values`` reads them, so a malformed header or a short payload fails as it would on a
live connection (a short payload as a timeout).

Examples:
    >>> t = ScriptedBlockTransport([(b":WAVeform:DATA?\\n", b"#800000002\\x01\\x02\\n")])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rig.errors import InstrumentError
from rig.instruments.scripted import TIMEOUT, _Scripted
from rig.instruments.transport import log_exchange

if TYPE_CHECKING:
    import numpy.typing as npt

    from rig.instruments.scripted import _Timeout

BlockEntry = tuple[bytes, "bytes | _Timeout | None"]
"""``(bytes written, bytes answered | None | TIMEOUT)``."""


class ScriptedBlockTransport(_Scripted[BlockEntry]):
    """MessageTransport and BlockTransport replaying exact bytes both ways."""

    def __init__(
        self,
        script: Sequence[BlockEntry],
        *,
        role: str = "scripted",
        address: str = "SCRIPTED::INSTR",
        timeout_s: float = 2.0,
        write_termination: str = "\n",
        read_termination: str = "\n",
    ) -> None:
        super().__init__(script, role, address, timeout_s)
        self.write_termination = write_termination
        self.read_termination = read_termination

    def _exchange(self, command: str, answered: bool) -> bytes | None:
        """Check the bytes ``command`` puts on the wire against the next entry; return the scripted answer."""
        self.last_command = command
        wire = (command + self.write_termination).encode("ascii")
        written, answer = self._next(f"{wire!r}")
        if written != wire:
            raise self._fail(f"expected the driver to write {written!r}, it wrote {wire!r}")
        if answered != (answer is not None):
            raise self._fail(f"{wire!r}: the script has {'no answer' if answer is None else 'an answer'} for it")
        if answer is TIMEOUT:
            message = f"timeout after {self.timeout_s:g} s waiting for the answer"
            log_exchange(self.role, self.address, command, error=message)
            raise InstrumentError(self.role, self.address, message, command)
        return answer if isinstance(answer, bytes) else None

    def write(self, command: str) -> None:
        """Send one command line (its bytes must be the next scripted write)."""
        self._exchange(command, answered=False)
        log_exchange(self.role, self.address, command)

    def query(self, command: str) -> str:
        """Send one command line and return the scripted answer line, terminator and blanks stripped."""
        answer = self._exchange(command, answered=True) or b""
        end = self.read_termination.encode("ascii")
        if not answer.endswith(end) or end in answer[: -len(end)]:
            raise self._fail(f"{command!r}: a query answer is one line ending in {end!r}, the script has {answer!r}")
        text = answer.decode("ascii").strip()
        log_exchange(self.role, self.address, command, text)
        return text

    def query_binary_values(
        self, command: str, datatype: str, is_big_endian: bool, *, expect_termination: bool = True
    ) -> npt.NDArray[Any]:
        """Send one command line and decode the scripted IEEE 488.2 block answer (pyvisa's parser)."""
        from rig.instruments.visa_transport import decode_ieee_block

        answer = self._exchange(command, answered=True) or b""
        termination = self.read_termination if expect_termination else ""
        try:
            values = decode_ieee_block(answer, datatype, is_big_endian, termination)
        except EOFError as exc:
            message = f"timeout after {self.timeout_s:g} s waiting for the answer ({exc})"
        except ValueError as exc:
            message = f"malformed IEEE 488.2 block in the answer ({exc})"
        else:
            log_exchange(self.role, self.address, command, f"<block of {values.size} x {datatype!r}>")
            return values
        log_exchange(self.role, self.address, command, error=message)
        raise InstrumentError(self.role, self.address, message, command)
