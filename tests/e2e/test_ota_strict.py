"""`rig firmware install` under `dut.attestation: strict`: the rig's own OTA provider is commissioned although the
station's trust store holds the DUT maker's PAA only (no Matter test PAA).

The DUT is `rig sim dut --chain` (the virtual EVSE as a network DUT attesting with a chain that is not a Matter test
chain); the lab's trust store is that chain's PAA alone. The provider attests with the station's own chain (made once
in the station's folder, its PAA and PAI keys not kept) and the install session trusts that PAA too
(rig.firmware.provider). Expected: the install ends with the DUT reporting the image's version (exit 0); the provider
was given the station's chain; the chain folder holds no CA private key; a second install reuses the same PAA.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import RIG, ROOT
from tests.e2e.test_network_dut import SimDut, running_sim_dut

pytestmark = pytest.mark.e2e

HANG_GUARD_S = 400.0  # only so a hang fails the test instead of blocking the suite; no time is judged


@pytest.fixture
def chain_dut(tmp_path: Path) -> Iterator[SimDut]:
    """`rig sim dut --chain` in a network namespace of its own, stopped (and its namespace gone) at the end."""
    with running_sim_dut(tmp_path, "rignet", "--chain", str(tmp_path / "chain")) as dut:
        yield dut


def _image(tmp_path: Path, version: int) -> Path:
    out = tmp_path / f"evse-{version}.ota"
    cmd = [*RIG, "sim", "build-image", "--out", str(out), "--software-version", str(version)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _install(dut: SimDut, config: Path, image: Path, logs: Path) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", dut.netns, *RIG, "firmware", "install", str(image), "--config", str(config)]
    cmd += ["--logs", str(logs), "--query-timeout", "120", "--download-timeout", "120"]
    cmd += ["--apply-timeout", "60", "--reboot-timeout", "120"]
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"rig firmware install {image.name} hung: still running after {HANG_GUARD_S:g} s\n{exc.stderr!r}")


def _config(tmp_path: Path, dut: SimDut, station: Path, **extra: str) -> Path:
    config = tmp_path / "lab.yaml"
    settings = {
        "kind": "network",
        "node_id": 0x3001,
        "passcode": dut.ready["passcode"],
        "discriminator": dut.ready["discriminator"],
        "paa_trust_store": dut.paa,
        "attestation": "strict",
        "timeouts": {"commissioning": 40, "command": 10, "event": 10},
        **extra,
    }
    data = {
        "station": {"name": "ota-strict", "state_dir": str(station)},
        "dut": settings,
        "stimulus": "trigger",
        "report": {"dir": str(tmp_path / "reports")},
    }
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    return config


def test_the_provider_is_commissioned_under_strict_attestation(chain_dut: SimDut, tmp_path: Path) -> None:
    station = tmp_path / "station"
    trust = sorted(p.name for p in Path(chain_dut.paa).iterdir())
    assert trust == ["paa.der"], f"the lab's trust store must hold the DUT's PAA alone: {trust}"
    chain = station / "ota-provider-attestation"
    paas = []
    # the second install: the DUT kept the station's fabric (its last), the station's provider chain is reused
    for version, extra in ((2, {}), (3, {"commissioning": "already-commissioned"})):
        config = _config(tmp_path, chain_dut, station, **extra)
        logs = tmp_path / f"logs-{version}"
        proc = _install(chain_dut, config, _image(tmp_path, version), logs)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"install of v{version}: exit {proc.returncode}\n{output[-6000:]}"
        assert f"installed {version} ('{version}.0.0') over Matter OTA" in output, output[-3000:]
        provider_config = json.loads((logs / "ota-provider" / "ota-provider.config.json").read_text(encoding="utf-8"))
        assert provider_config.get("certification") == {
            "privateKey": str(chain / "dac-key.der"),
            "certificate": str(chain / "dac.der"),
            "intermediateCertificate": str(chain / "pai.der"),
        }, f"the provider did not attest with the station's chain: {provider_config.get('certification')}"
        paas.append((chain / "paa" / "paa.der").read_bytes())
    assert paas[0] == paas[1], "the station's provider PAA was made again for the second install"
    files = sorted(str(p.relative_to(chain)) for p in chain.rglob("*") if p.is_file())
    assert files == ["dac-key.der", "dac.der", "paa/paa.der", "pai.der"], f"the chain folder holds more: {files}"
