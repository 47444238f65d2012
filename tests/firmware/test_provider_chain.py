"""The OTA provider's attestation under strict attestation (rig.firmware.provider): a chain of the station's own,
made once, whose PAA vouches for the provider's DAC alone; an install session trusts that PAA on top of the DUT's
trust store (rig.session._trusting) without writing either folder. The install under strict attestation end to end:
tests/e2e/test_ota_strict.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

import rig.firmware.provider as provider_mod
from rig.firmware.provider import (
    CHAIN_FOLDER,
    PROVIDER_PRODUCT_ID,
    PROVIDER_VENDOR_ID,
    OtaProvider,
    ProviderSettings,
    station_chain,
    station_paa,
)
from rig.session import _trusting
from rig.sim.attestation import PID_OID, VID_OID, chain_problem


def test_the_station_chain_is_made_once_for_the_provider_and_keeps_no_ca_key(tmp_path: Path) -> None:
    chain = station_chain(tmp_path)
    assert chain.folder == (tmp_path / CHAIN_FOLDER).resolve() and chain_problem(chain) is None
    dac = x509.load_der_x509_certificate(chain.dac.read_bytes())
    assert dac.subject.get_attributes_for_oid(VID_OID)[0].value == f"{PROVIDER_VENDOR_ID:04X}"
    assert dac.subject.get_attributes_for_oid(PID_OID)[0].value == f"{PROVIDER_PRODUCT_ID:04X}"
    paa = chain.paa.read_bytes()
    assert station_chain(tmp_path).paa.read_bytes() == paa, "made again although it still fits"
    assert station_paa(tmp_path) == chain.paa_trust_store and [p.name for p in chain.paa_trust_store.iterdir()] == [
        "paa.der"
    ]
    files = sorted(str(p.relative_to(chain.folder)) for p in chain.folder.rglob("*") if p.is_file())
    assert files == ["dac-key.der", "dac.der", "paa/paa.der", "pai.der"]  # no PAA or PAI key: it signs nothing more
    assert stat.S_IMODE(chain.dac_key.stat().st_mode) == 0o600


def test_the_provider_is_started_with_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = station_chain(tmp_path / "station")
    provider = OtaProvider(ProviderSettings(tmp_path / "v2.ota", tmp_path / "provider", chain=chain))
    assert provider.settings.chain == chain and provider.settings.passcode  # kept when the codes are drawn
    written: dict[str, Any] = {}

    class Started(Exception):
        """Stands for the process: its config has been read."""

    def popen(*args: Any, env: dict[str, str], **kwargs: Any) -> None:
        written.update(json.loads(Path(env["OTA_PROVIDER_CONFIG"]).read_text(encoding="utf-8")))
        raise Started

    monkeypatch.setattr(provider_mod.subprocess, "Popen", popen)
    with pytest.raises(Started):
        provider.start()
    assert written["certification"] == chain.certification()
    assert stat.S_IMODE((tmp_path / "provider" / "ota-provider.config.json").stat().st_mode) == 0o600


def test_a_session_trusts_the_station_paa_on_top_of_the_duts_without_writing_either(tmp_path: Path) -> None:
    dut_store, station = tmp_path / "dut-paa", tmp_path / "station"
    dut_store.mkdir()
    (dut_store / "lab.der").write_bytes(b"lab")
    extra = station_paa(station)
    before = {p: p.read_bytes() for p in (*dut_store.iterdir(), *extra.iterdir())}
    target = _trusting(dut_store, extra, tmp_path / "run" / "paa-session")
    assert sorted(p.name for p in target.iterdir()) == ["0-lab.der", "1-paa.der"]
    assert (target / "1-paa.der").read_bytes() == (extra / "paa.der").read_bytes()
    assert {p: p.read_bytes() for p in (*dut_store.iterdir(), *extra.iterdir())} == before
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
