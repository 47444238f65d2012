"""Private files of a station: atomic writes, and reads that refuse what other users could read or change.

Every file of a station folder is written by :func:`atomic_write` (temporary file in the same folder, fsync, rename,
fsync of the folder: a crash leaves the old file or the new one, never half of one) and read by
:func:`read_private`, which refuses a symbolic link, a file not owned by the user running the rig and one that
group or others may access.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from rig.errors import RigError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class StationError(RigError):
    """The station's folder, fabric store or records cannot be used as they are; the message names the file and
    what to do. Nothing was changed."""


def atomic_write(path: Path, data: bytes | str, mode: int = PRIVATE_FILE) -> None:
    """Replace ``path`` with ``data`` atomically: the file holds either its old content or ``data``.

    A temporary file in the same folder is created with ``mode`` (exactly: the umask does not apply), written,
    flushed and fsynced, renamed over ``path``, and the folder is fsynced so that the rename survives a power cut.

    Args:
        path: the file to write; its folder must exist.
        data: the new content (``str`` is written as UTF-8).
        mode: permission bits of the new file.

    Raises:
        OSError: the folder is not writable or the disk is full (the temporary file is removed).
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to the disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(folder: Path) -> bool:
    """Create ``folder`` unless it exists, and its missing parents, each with mode 0700 whatever the umask (a
    parent others could write to would let them move the station folder away); return whether it was created."""
    if folder.exists():
        return False
    missing = [folder, *(p for p in folder.parents if not p.exists())]
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile by another run: checked like any existing folder
        except OSError as exc:
            raise StationError(
                f"cannot create the station folder {folder}: {exc.strerror} ({path}); create it yourself (mode 0700)"
            ) from None
        os.chmod(path, PRIVATE_DIR)
    return True


def _who() -> int:
    return os.geteuid()


def check_owner_and_mode(path: Path, st: os.stat_result, *, what: str) -> None:
    """Refuse ``path`` (its stat ``st``) unless the current user owns it and group and others have no access.

    Args:
        path: shown in the message.
        st: its ``os.stat_result``.
        what: what the path is, e.g. "station folder".
    """
    folder = stat.S_ISDIR(st.st_mode)
    me = _who()
    if st.st_uid != me:
        raise StationError(
            f"{what} {path} is owned by uid {st.st_uid}, not by the user running the rig (uid {me}); it holds the "
            f"station's Matter fabric: run the rig as its owner, or `chown {me} {path}`"
        )
    bits = stat.S_IMODE(st.st_mode)
    if bits & 0o077:
        want = PRIVATE_DIR if folder else PRIVATE_FILE
        access = "group or others can open it" if folder else "group or others can read or change it"
        raise StationError(
            f"{what} {path} has mode {bits:04o}: {access}, and it holds the station's Matter fabric (its root CA "
            f"private key); run `chmod {want:o} {path}`"
        )


def check_private_dir(folder: Path, *, what: str) -> None:
    """Refuse ``folder`` unless it is a folder owned by the current user, with no group or other access."""
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        raise StationError(f"{what} {folder} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise StationError(f"{what} {folder} is not a folder; move it aside")
    check_owner_and_mode(folder, st, what=what)


def read_private(path: Path, *, what: str) -> bytes | None:
    """The content of a private file of the station, or None when it does not exist.

    Raises:
        StationError: ``path`` is a symbolic link, not a regular file, not owned by the current user or accessible
            to group or others.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StationError(
                f"{what} {path} is a symbolic link; the station keeps its files in its own folder: replace the link "
                "with the file it points to"
            ) from None
        raise StationError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StationError(f"{what} {path} is not a regular file; move it aside")
        check_owner_and_mode(path, st, what=what)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
