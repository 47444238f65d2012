"""The station's Matter fabric, kept from run to run in one private folder.

The CHIP Python controller keeps its whole fabric in one JSON file: the root CA's private key, the controller's own
fabric table, session and group keys. A DUT commissioned by the rig trusts that root. Losing or replacing the file
strands the fabric on every DUT (a fabric-table slot no one can administer or remove), and the wheel silently
replaces a damaged file with a new fabric. So the station keeps the file outside the per-run folder, private,
checked and backed up, and refuses to run rather than start a new fabric over a lost one.

Folder layout (``station.state_dir``, default ``/var/lib/rig/<station name>``; 0700, owned by the user running the
rig)::

    chip-storage.json          the wheel's fabric store (0600): ChipStack(persistentStoragePath=...)
    chip-storage.json.backup   copy of the store as the last run found it valid, made before the controller starts
    station.json               the station's identity: controller node id, fabric id, vendor id, CA index, created at
    duts/<node id>.json        one record per commissioned DUT (node id as 16 upper-case hex digits); duts/ is 0700
    lock                       flock(2)-ed by the run using the station; holds its pid
    audit.log                  one line per operator action on a DUT (a fabric removed, a window opened)

Rules, enforced by :meth:`Station.open` before the controller may see the store:

* a folder or file that group or others can access, or that another user owns, is refused (the message gives the
  ``chmod``/``chown`` to run); files are never followed through symbolic links;
* one run at a time: a second gets "station NAME at FOLDER is in use by another run (pid N)";
* a damaged or truncated store is refused and left as it is, naming the backup to restore; a missing or empty store
  while DUT records, a CA index or a backup with a fabric exist is refused too (the fabric is lost);
* a valid store is backed up; a missing one is created empty with mode 0600 (the wheel keeps an existing file's
  mode, and would create a new one with the umask's, usually 0644);
* every write is atomic (:func:`atomic_write`: temporary file, fsync, rename, fsync of the folder).

This package reads the store itself and never imports ``chip`` (only :mod:`rig.matter` does); the storage format
is described in :mod:`rig.station.storage`.
"""

from __future__ import annotations

from rig.station.files import StationError, atomic_write
from rig.station.records import COMMISSIONING_MODES, CommissioningMode, DutRecord, StationIdentity, utc_now
from rig.station.station import STATE_ROOT, Station, record_name, station_dir
from rig.station.storage import compressed_fabric_id, fingerprint, sdk_key

__all__ = [
    "COMMISSIONING_MODES",
    "STATE_ROOT",
    "CommissioningMode",
    "DutRecord",
    "Station",
    "StationError",
    "StationIdentity",
    "atomic_write",
    "compressed_fabric_id",
    "fingerprint",
    "record_name",
    "sdk_key",
    "station_dir",
    "utc_now",
]
