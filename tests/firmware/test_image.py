"""The OTA image file (Matter Core 11.20.2): made by matter.js's OtaImageWriter (``rig sim build-image``), read by
rig.firmware.image and by matter.js's OtaImageReader alike; damaged images refused naming the field; an image that
does not fit the DUT refused naming the field."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rig.firmware.image import FILE_IDENTIFIER, ImageError, read_image
from rig.firmware.install import ImageRefused, check_image
from rig.matter.ota import Versions
from rig.sim.ota_image import BUILD_IMAGE_JS, build_virtual_evse_image

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ota") / "build-7.ota"
    build_virtual_evse_image(
        path,
        vendor_id=0xFFF1,
        product_id=0x8000,
        software_version=7,
        software_version_string="7.0.0-test",
        defects=["state-change-not-reported"],
        payload_size=4096,
    )
    return path


def _matter_js_read(path: Path) -> dict[str, object]:
    proc = subprocess.run(
        ["node", str(BUILD_IMAGE_JS), "read", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@needs_node
def test_the_header_reads_as_matter_js_reads_it(image: Path) -> None:
    ota = read_image(image)
    h = ota.header
    assert (h.vendor_id, h.product_id, h.software_version) == (0xFFF1, 0x8000, 7)
    assert h.software_version_string == "7.0.0-test"
    assert h.payload_size == 4096 and h.digest_type == 1
    assert h.digest == hashlib.sha256(ota.payload()).digest()
    theirs = _matter_js_read(image)
    header = theirs["header"]
    assert isinstance(header, dict)
    assert header["vendorId"] == h.vendor_id and header["productId"] == h.product_id
    assert header["softwareVersion"] == h.software_version
    assert header["softwareVersionString"] == h.software_version_string
    assert header["payloadSize"] == h.payload_size and header["imageDigestType"] == h.digest_type
    assert header["imageDigest"] == h.digest.hex()
    assert theirs["build"] == {
        "format": "rig-virtual-evse-build/1",
        "softwareVersion": 7,
        "softwareVersionString": "7.0.0-test",
        "defects": ["state-change-not-reported"],
    }
    payload = json.loads(ota.payload())
    assert payload["defects"] == ["state-change-not-reported"]


def _damaged(image: Path, tmp_path: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(image.read_bytes())
    raw[offset : offset + len(data)] = data
    out = tmp_path / f"damaged-{offset}.ota"
    out.write_bytes(bytes(raw))
    return out


@needs_node
def test_damaged_images_are_refused_naming_the_field(image: Path, tmp_path: Path) -> None:
    size = image.stat().st_size
    header_size = struct.unpack_from("<I", image.read_bytes(), 12)[0]
    cases = [
        (_damaged(image, tmp_path, 0, b"\0\0\0\0"), "FileIdentifier"),
        (_damaged(image, tmp_path, 4, struct.pack("<Q", size + 1)), "TotalSize"),
        (_damaged(image, tmp_path, 16 + header_size + 10, b"X"), "ImageDigest"),
        (_damaged(image, tmp_path, 12, struct.pack("<I", size)), "HeaderSize"),
    ]
    for path, field in cases:
        with pytest.raises(ImageError, match=field):
            read_image(path)
        proc = subprocess.run(["node", str(BUILD_IMAGE_JS), "read", str(path)], capture_output=True, timeout=60)
        assert proc.returncode == 2, f"matter.js's reader accepted an image with a damaged {field}"
    truncated = tmp_path / "truncated.ota"
    truncated.write_bytes(image.read_bytes()[:-1])
    with pytest.raises(ImageError, match="TotalSize"):
        read_image(truncated)
    assert struct.unpack_from("<I", image.read_bytes())[0] == FILE_IDENTIFIER


@needs_node
def test_a_build_naming_an_unknown_defect_is_refused(tmp_path: Path) -> None:
    from rig.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown defect"):
        build_virtual_evse_image(
            tmp_path / "x.ota",
            vendor_id=0xFFF1,
            product_id=0x8000,
            software_version=2,
            software_version_string="2",
            defects=["no-such-defect"],
        )


@needs_node
def test_an_image_that_does_not_fit_the_dut_is_refused_naming_the_field(image: Path) -> None:
    header = read_image(image).header
    running = Versions(vendor_id=0xFFF1, product_id=0x8000, software_version=1, software_version_string="1.0.0")
    check_image(header, running)  # fits
    for other, field in (
        (Versions(0xFFF2, 0x8000, 1, "1"), "VendorID"),
        (Versions(0xFFF1, 0x8001, 1, "1"), "ProductID"),
        (Versions(0xFFF1, 0x8000, 7, "7.0.0-test"), "SoftwareVersion"),
        (Versions(0xFFF1, 0x8000, 9, "9"), "SoftwareVersion"),
    ):
        with pytest.raises(ImageRefused, match=field) as refused:
            check_image(header, other)
        assert refused.value.exit_code == 2


def test_a_file_that_is_no_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    with pytest.raises(ImageError, match="FileIdentifier"):
        read_image(path)
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path / "missing.ota")


@needs_node
def test_a_build_for_another_board_revision_carries_it_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    from rig.errors import ConfigError

    path = tmp_path / "hw2.ota"
    build_virtual_evse_image(
        path,
        vendor_id=0xFFF1,
        product_id=0x8000,
        software_version=2,
        software_version_string="2.0.0",
        defects=["build-does-not-boot"],
        hardware_version=2,
    )
    build = _matter_js_read(path)["build"]
    assert isinstance(build, dict)
    assert build["hardwareVersion"] == 2 and build["defects"] == ["build-does-not-boot"]
    with pytest.raises(ConfigError, match=r"payload\.hardwareVersion: 70000 is not 0\.\.65535"):
        build_virtual_evse_image(
            tmp_path / "bad.ota",
            vendor_id=0xFFF1,
            product_id=0x8000,
            software_version=2,
            software_version_string="2.0.0",
            defects=[],
            hardware_version=70000,
        )
