"""An OTA image of a virtual EVSE build (``rig sim build-image``): the payload a JSON build of the virtual EVSE (its
software version, version string and defects; ``virtual_evse/src/build.js``), the file made by matter.js's
``OtaImageWriter`` (``virtual_evse/src/build-image.js``) and read back by :func:`rig.firmware.image.read_image`."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from rig.errors import ConfigError
from rig.firmware.image import OtaImage, read_image
from rig.sim.virtual_evse import EVSE_DIR, check_installed

BUILD_IMAGE_JS = EVSE_DIR / "src" / "build-image.js"


def build_virtual_evse_image(
    out: Path,
    *,
    vendor_id: int,
    product_id: int,
    software_version: int,
    software_version_string: str,
    defects: list[str],
    payload_size: int = 0,
    hardware_version: int | None = None,
    timeout_s: float = 60.0,
) -> OtaImage:
    """Make an OTA image whose payload is a virtual EVSE build (``virtual_evse/src/build.js``), with matter.js's
    ``OtaImageWriter``; return it read back and checked here. ``hardware_version``: the board revision the build is
    for (the virtual EVSE refuses it on another board, a DownloadError); None: any.

    Raises:
        ConfigError: a refused build (unknown defect, version out of range); SetupError: Node.js or the virtual
            EVSE's packages are missing.
    """
    check_installed()
    spec = {
        "vendorId": vendor_id,
        "productId": product_id,
        "softwareVersion": software_version,
        "softwareVersionString": software_version_string,
        "defects": list(defects),
        "payloadSize": payload_size,
    }
    if hardware_version is not None:
        spec["hardwareVersion"] = hardware_version
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        proc = subprocess.run(
            ["node", str(BUILD_IMAGE_JS), "make", f.name, str(out)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    finally:
        Path(f.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise ConfigError(f"the OTA image was not made: {proc.stderr.strip()[-1500:]}")
    return read_image(out)
