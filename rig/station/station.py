"""One station's folder: its lock, its identity, the wheel's fabric store (checked and backed up), its DUT records."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
from dataclasses import fields, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rig.station.files import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    StationError,
    atomic_write,
    check_owner_and_mode,
    check_private_dir,
    fsync_dir,
    make_private_dir,
    read_private,
)
from rig.station.records import DutRecord, StationIdentity, dumps
from rig.station.storage import FabricStore, StorageDamaged, compressed_fabric_id, fingerprint, parse_storage

if TYPE_CHECKING:
    from rig.config import RigConfig

STATE_ROOT = Path("/var/lib/rig")
"""Where stations live unless ``station.state_dir`` says otherwise: ``/var/lib/rig/<station name>``."""

STORAGE = "chip-storage.json"
BACKUP = "chip-storage.json.backup"
IDENTITY = "station.json"
LOCK = "lock"
DUTS = "duts"
_RECORD_NAME = re.compile(r"[0-9A-F]{16}\.json")


def station_dir(config: RigConfig) -> Path:
    """The station's folder: ``station.state_dir``, or ``/var/lib/rig/<station.name>`` when it is null."""
    return config.station.state_dir or STATE_ROOT / config.station.name


def record_name(node_id: int) -> str:
    """The file name of a DUT's record: its node id as 16 upper-case hex digits, ``.json``."""
    return f"{node_id:016X}.json"


class Station:
    """A station's persistent Matter identity, in one private folder.

    Reading (:attr:`identity`, :meth:`records`, :meth:`root_fingerprint`, ...) works on any existing station folder
    and changes nothing; :meth:`open` (or ``with station:``) is what a run does before the controller starts: lock,
    create what is missing, check the fabric store and back it up.

    Args:
        folder: the station folder (see :func:`station_dir`).
        name: the station's name, for messages.
    """

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = Path(folder)
        self.name = name
        self._lock_fd: int | None = None

    @classmethod
    def from_config(cls, config: RigConfig) -> Station:
        """The station rig.yaml describes (not opened)."""
        return cls(station_dir(config), config.station.name)

    def __repr__(self) -> str:
        return f"Station({self.name!r}, {str(self.folder)!r})"

    # -- paths -------------------------------------------------------------------------------------------
    @property
    def storage_path(self) -> Path:
        """The CHIP controller's fabric store (``ChipStack(persistentStoragePath=...)``)."""
        return self.folder / STORAGE

    @property
    def backup_path(self) -> Path:
        """The copy of the last fabric store a run found valid."""
        return self.folder / BACKUP

    @property
    def identity_path(self) -> Path:
        return self.folder / IDENTITY

    @property
    def lock_path(self) -> Path:
        return self.folder / LOCK

    @property
    def duts_dir(self) -> Path:
        return self.folder / DUTS

    def record_path(self, node_id: int) -> Path:
        """Where the record of DUT ``node_id`` is kept."""
        return self.duts_dir / record_name(node_id)

    # -- opening -----------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Whether this object holds the station's lock."""
        return self._lock_fd is not None

    def exists(self) -> bool:
        """Whether the station folder exists (a first run creates it)."""
        return self.folder.is_dir()

    def open(self) -> Station:
        """Lock the station for this process and make it ready for the controller; returns ``self``.

        Creates the folder (0700, parents as needed) when absent, refuses one that others can access, takes the
        lock, writes ``station.json`` on first use, checks every file, checks the fabric store and backs it up, and
        creates an empty fabric store 0600 when there is none (the wheel keeps an existing file's mode). Use as
        ``with station.open():`` or ``with station:``; :meth:`close` releases the lock.

        Raises:
            StationError: the folder or a file is not private; another process holds the lock; the fabric store or a
                record is damaged; the fabric store is missing or empty while the station has commissioned DUTs.
                Nothing was changed then (the lock is released).
        """
        if self._lock_fd is not None:
            return self
        make_private_dir(self.folder)
        check_private_dir(self.folder, what="station folder")
        self._lock()
        try:
            if read_private(self.identity_path, what="station identity") is None:
                self._write_identity(StationIdentity())
            if self.duts_dir.exists():
                check_private_dir(self.duts_dir, what="DUT records folder")
            else:
                self.duts_dir.mkdir(mode=PRIVATE_DIR)
                os.chmod(self.duts_dir, PRIVATE_DIR)
            store = self.check()
            if store.has_fabric:
                raw = read_private(self.storage_path, what="fabric store")
                assert raw is not None  # checked just now, under the lock
                atomic_write(self.backup_path, raw, PRIVATE_FILE)
            elif not self.storage_path.exists():
                fd = os.open(self.storage_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
                try:
                    os.fchmod(fd, PRIVATE_FILE)
                finally:
                    os.close(fd)
                fsync_dir(self.folder)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Release the lock (safe to call more than once)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # releases the flock

    def __enter__(self) -> Station:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _lock(self) -> None:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, PRIVATE_FILE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StationError(f"lock file {self.lock_path} is a symbolic link; remove it") from None
            raise StationError(f"cannot open the lock file {self.lock_path}: {exc.strerror}") from None
        try:
            check_owner_and_mode(self.lock_path, os.fstat(fd), what="lock file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StationError(
                    f"station {self.name} at {self.folder} is in use by another run ({_pid_text(_lock_pid(fd))}); "
                    "wait for it to end or stop it"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def holder(self) -> int | None:
        """The pid of the process holding the station's lock (``rig run``), None when no process holds it, 0 when
        the holder has not written its pid yet."""
        if self._lock_fd is not None:
            return os.getpid()
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size == 0:
                return None  # a run empties the file when it ends: not probed, so as not to delay one starting now
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _lock_pid(fd) or 0
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    # -- checking ----------------------------------------------------------------------------------------
    def check(self) -> FabricStore:
        """Check every file of an existing station folder and return its fabric store's content; writes nothing.

        Raises:
            StationError: see :meth:`open`.
        """
        check_private_dir(self.folder, what="station folder")
        identity = self.identity
        records = self.records()
        store = self._read_store()
        backup = self._read_backup()
        if store.has_fabric:
            self._check_identity_matches(identity, store)
            return store
        # Holding no fabric is only right for a station that never had one.
        lost = []
        if records:
            lost.append(f"{len(records)} DUT record(s) in {self.duts_dir}")
        if identity.ca_index is not None:
            lost.append(f"{self.identity_path} names CA index {identity.ca_index}")
        if backup is not None and backup.has_fabric:
            lost.append(f"{self.backup_path} holds a fabric")
        if lost:
            raw = read_private(self.storage_path, what="fabric store")
            state = "is missing" if raw is None else "is empty" if not raw.strip() else "holds no fabric"
            raise StationError(
                f"station {self.name}: the fabric store {self.storage_path} {state}, yet {'; '.join(lost)}: the "
                f"station's fabric (its root CA key) is lost. {self._restore_hint(backup)}; the rig does not start "
                "a new fabric over it"
            )
        return store

    def _read_store(self) -> FabricStore:
        raw = read_private(self.storage_path, what="fabric store")
        if raw is None:
            return FabricStore({})
        try:
            return parse_storage(raw)
        except StorageDamaged as exc:
            raise StationError(
                f"station {self.name}: the fabric store {self.storage_path} is damaged: {exc}; it was left as it "
                f"is. {self._restore_hint(self._read_backup())}"
            ) from None

    def _read_backup(self) -> FabricStore | None:
        """The backup's content, or None when there is none or it does not parse."""
        raw = read_private(self.backup_path, what="fabric store backup")
        if raw is None:
            return None
        try:
            return parse_storage(raw)
        except StorageDamaged:
            return None

    def _restore_hint(self, backup: FabricStore | None) -> str:
        if backup is not None and backup.has_fabric:
            return (
                f"Restore it from the backup: `cp -p {self.backup_path} {self.storage_path}` (the store as the last "
                "run found it when it started: a DUT commissioned in that run is not in it)"
            )
        if self.backup_path.exists():
            return (
                f"The backup {self.backup_path} holds no usable fabric either: restore both from your own backup of "
                f"{self.folder}"
            )
        return f"There is no backup ({self.backup_path} is absent): restore it from your own backup of {self.folder}"

    def _check_identity_matches(self, identity: StationIdentity, store: FabricStore) -> None:
        if identity.ca_index is None:
            return
        ca = store.cas.get(identity.ca_index)
        if ca is None:
            raise StationError(
                f"station {self.name}: {self.identity_path} names CA index {identity.ca_index} but the fabric store "
                f"{self.storage_path} holds CA index(es) {', '.join(map(str, sorted(store.cas)))}: the store is not "
                f"this station's. {self._restore_hint(self._read_backup())}"
            )
        fabric_ids = {fabric for fabric, _ in ca.fabrics}
        if fabric_ids and identity.fabric_id not in fabric_ids:
            raise StationError(
                f"station {self.name}: {self.identity_path} names fabric id {identity.fabric_id} but CA index "
                f"{identity.ca_index} of {self.storage_path} administers fabric id(s) "
                f"{', '.join(map(str, sorted(fabric_ids)))}: put the fabric id back in {self.identity_path}"
            )

    # -- identity ----------------------------------------------------------------------------------------
    @property
    def identity(self) -> StationIdentity:
        """The station's identity (``station.json``), read from the disk.

        Raises:
            StationError: the file is missing (the station was never opened), damaged or not private.
        """
        raw = read_private(self.identity_path, what="station identity")
        if raw is None:
            raise StationError(
                f"station {self.name} at {self.folder} has no {IDENTITY}: it was never opened by a run (or the file "
                "was removed: restore it from your own backup of the folder)"
            )
        return StationIdentity.from_bytes(raw, str(self.identity_path))

    def update_identity(self, **changes: Any) -> StationIdentity:
        """Change fields of ``station.json`` (e.g. ``ca_index=1`` once the controller made the CA); returns it.

        Needs the lock (:meth:`open`). Changing the controller node id or the fabric id of a station that has
        commissioned DUTs strands them: the controller's node id is the admin subject in their ACL.
        """
        self._need_lock("update the station identity")
        wrong = sorted(set(changes) - {f.name for f in fields(StationIdentity)} | ({"created_at"} & set(changes)))
        if wrong:
            raise TypeError(f"not a changeable station identity field: {', '.join(wrong)}")
        updated = replace(self.identity, **changes)  # checked by StationIdentity (ValueError)
        self._write_identity(updated)
        return updated

    def set_ca_index(self, ca_index: int) -> None:
        """Remember the CA index of the station's root CA (the controller made it). Needs the lock."""
        self.update_identity(ca_index=ca_index)

    def _write_identity(self, identity: StationIdentity) -> None:
        atomic_write(self.identity_path, dumps(identity.to_json()), PRIVATE_FILE)

    @property
    def controller_node_id(self) -> int:
        """The controller's node id on the station's fabric (reuse it: it is the admin subject in the DUTs' ACL)."""
        return self.identity.controller_node_id

    @property
    def fabric_id(self) -> int:
        return self.identity.fabric_id

    @property
    def vendor_id(self) -> int:
        return self.identity.vendor_id

    @property
    def ca_index(self) -> int | None:
        """The CHIP controller's CA index of the station's root CA (None until the first CA exists)."""
        return self.identity.ca_index

    # -- DUT records -------------------------------------------------------------------------------------
    def record(self, node_id: int) -> DutRecord | None:
        """The record of DUT ``node_id``, or None when the station has none.

        Raises:
            StationError: the record file is damaged, not private, or names another node id.
        """
        return self._read_record(self.record_path(node_id))

    def _read_record(self, path: Path) -> DutRecord | None:
        raw = read_private(path, what="DUT record")
        if raw is None:
            return None
        rec = DutRecord.from_bytes(raw, str(path))
        if record_name(rec.node_id) != path.name:
            raise StationError(
                f"DUT record {path} is damaged: it holds node id {rec.node_id:#018x}, not the one of its name; "
                "restore it from a backup of the station folder"
            )
        return rec

    def save_record(self, rec: DutRecord) -> None:
        """Write (or replace) the record of ``rec.node_id`` atomically, mode 0600. Needs the lock."""
        self._need_lock("save a DUT record")
        atomic_write(self.record_path(rec.node_id), dumps(rec.to_json()), PRIVATE_FILE)

    def forget_record(self, node_id: int) -> bool:
        """Remove the record of DUT ``node_id``; returns whether there was one. Needs the lock.

        Only the record: removing the station's fabric from the DUT is the controller's job, done before.
        """
        self._need_lock("forget a DUT record")
        try:
            self.record_path(node_id).unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self.duts_dir)
        return True

    @property
    def audit_path(self) -> Path:
        """``audit.log``: one line per operator action on a DUT (fabric removed, window opened)."""
        return self.folder / "audit.log"

    def audit(self, text: str) -> None:
        """Append ``<UTC time> <text>`` to the station's audit log (0600); the text is escaped to one line. Needs
        the lock."""
        from rig.station.records import utc_now

        self._need_lock("write the audit log")
        line = f"{utc_now()} {text!r}\n" if not text.isprintable() else f"{utc_now()} {text}\n"
        fd = os.open(
            self.audit_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, PRIVATE_FILE
        )
        try:
            os.fchmod(fd, PRIVATE_FILE)
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[DutRecord]:
        """Every DUT record, by node id.

        Raises:
            StationError: a record is damaged or not private, or the folder holds a file that is not a record.
        """
        if not self.duts_dir.exists():
            return []
        check_private_dir(self.duts_dir, what="DUT records folder")
        found = []
        for path in sorted(self.duts_dir.iterdir()):
            if path.name.startswith("."):
                continue  # a temporary file of an interrupted atomic write
            if not _RECORD_NAME.fullmatch(path.name):
                raise StationError(
                    f"{path} is not a DUT record (those are named by their node id, 16 upper-case hex digits, "
                    f".json): move it out of {self.duts_dir}"
                )
            rec = self._read_record(path)
            if rec is not None:
                found.append(rec)
        return found

    # -- the fabric's root -------------------------------------------------------------------------------
    def root_public_key(self) -> bytes | None:
        """The 65-byte uncompressed P-256 point of the root certificate of the station's CA, or None when the
        station has no CA yet (no CA index in ``station.json``, or the store holds no fabric).

        Raises:
            StationError: the fabric store is damaged or not private, or does not hold the station's CA index.
        """
        ca_index = self.identity.ca_index
        if ca_index is None:
            return None
        store = self._read_store()
        if not store.has_fabric:
            return None
        self._check_identity_matches(self.identity, store)
        return store.cas[ca_index].root_public_key

    def root_fingerprint(self) -> str:
        """SHA-256 of :meth:`root_public_key` (the 65-byte point), colon-separated hex; ``none yet`` without a CA."""
        key = self.root_public_key()
        return "none yet" if key is None else fingerprint(key)

    def compressed_fabric_id(self) -> str | None:
        """The station fabric's compressed fabric id, 16 upper-case hex digits; None without a CA.

        DUTs on the fabric advertise ``<this>-<node id>`` as their operational DNS-SD instance name.
        """
        key = self.root_public_key()
        return None if key is None else compressed_fabric_id(key, self.identity.fabric_id)

    def _need_lock(self, what: str) -> None:
        if self._lock_fd is None:
            raise StationError(f"cannot {what}: station {self.name} at {self.folder} is not opened by this run")


def _lock_pid(fd: int) -> int | None:
    """The pid written in the lock file, None when none is (yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _pid_text(pid: int | None) -> str:
    return "pid not written yet" if not pid else f"pid {pid}"
