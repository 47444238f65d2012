"""Reading a file the user names (rig.yaml, a PICS file, a run record): a regular file only, of bounded size.

A FIFO or a device would block the read forever, a folder or a symbolic link loop ends in a traceback and a huge
file in memory exhaustion; :func:`read_input` turns each into the caller's error class with a message naming the
file. The file is opened non-blocking and checked on its descriptor, so a FIFO swapped in after a check cannot
hang the read either.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from rig.errors import RigError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_input(path: Path, *, limit: int, what: str, error: type[RigError]) -> bytes:
    """Return the bytes of the regular file ``path``, at most ``limit`` of them.

    Args:
        path: the file.
        limit: largest size accepted, bytes.
        what: what the file is, for messages (``"PICS file"``).
        error: the exception class raised for every problem but a missing file.

    Raises:
        FileNotFoundError: nothing at ``path`` (the caller says what to do).
        RigError: of class ``error``: a folder, FIFO, socket or device, a symbolic link loop, a file over ``limit``
            bytes, or a read error; the message names the file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{path}: a loop of symbolic links, not a {what}") from None
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: is {_kind(info.st_mode)}, not a {what}")
        if info.st_size > limit:
            raise error(f"{path}: {info.st_size} bytes is too large for a {what} (at most {limit})")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise error(f"{path}: more than {limit} bytes is too large for a {what}")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
