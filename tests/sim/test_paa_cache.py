"""The test PAA cache of the virtual EVSE (rig.sim.virtual_evse.cached_paa): exported once per matter.js version into
a folder private to this user, copied per run; a cache that is not private is never trusted.

The export itself (Node.js) is replaced by a function writing a known certificate, so these tests need no Node.js.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rig.sim import virtual_evse

DER = b"0\x82\x01\xb0test-paa"


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Point the cache at a temporary folder; record every export instead of running Node.js."""
    done: list[Path] = []

    def fake_export(target: Path, timeout_s: float = 30.0) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        (target / "Chip-Test-PAA-NoVID-Cert.der").write_bytes(DER)
        done.append(target)
        return target

    monkeypatch.setattr(virtual_evse, "export_paa", fake_export)
    monkeypatch.setattr(virtual_evse, "PAA_CACHE", tmp_path / "cache" / "rig-test-paa")
    monkeypatch.setattr(virtual_evse, "_paa_cache_folder", lambda: virtual_evse.PAA_CACHE / "matter.js-1.2.3-abc")
    return done


def test_the_first_run_exports_into_the_cache_and_later_runs_copy_it(exports: list[Path], tmp_path: Path) -> None:
    first = virtual_evse.cached_paa(tmp_path / "run1" / "paa")
    second = virtual_evse.cached_paa(tmp_path / "run2" / "paa")
    assert len(exports) == 1, "one export for the matter.js version"
    for run in (first, second):
        assert (run / "Chip-Test-PAA-NoVID-Cert.der").read_bytes() == DER
    cache = virtual_evse.PAA_CACHE
    assert cache.stat().st_mode & 0o777 == 0o700
    assert (cache / "matter.js-1.2.3-abc").stat().st_mode & 0o077 == 0
    assert [p.name for p in cache.iterdir()] == ["matter.js-1.2.3-abc"], "no staging folder left behind"


def test_a_cache_open_to_others_is_not_used(exports: list[Path], tmp_path: Path) -> None:
    virtual_evse.cached_paa(tmp_path / "run1" / "paa")
    os.chmod(virtual_evse.PAA_CACHE, 0o755)
    virtual_evse.cached_paa(tmp_path / "run2" / "paa")
    assert exports[-1] == tmp_path / "run2" / "paa", "exported for the run itself, not copied from the cache"


def test_a_certificate_others_may_write_is_not_trusted_and_the_cache_is_made_afresh(
    exports: list[Path], tmp_path: Path
) -> None:
    virtual_evse.cached_paa(tmp_path / "run1" / "paa")
    der = virtual_evse.PAA_CACHE / "matter.js-1.2.3-abc" / "Chip-Test-PAA-NoVID-Cert.der"
    der.write_bytes(b"planted")
    os.chmod(der, 0o666)
    run = virtual_evse.cached_paa(tmp_path / "run2" / "paa")
    assert (run / "Chip-Test-PAA-NoVID-Cert.der").read_bytes() == DER
    assert len(exports) == 2
    assert der.read_bytes() == DER and der.stat().st_mode & 0o022 == 0


def test_a_symlinked_cache_folder_is_not_followed(exports: list[Path], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "Chip-Test-PAA-NoVID-Cert.der").write_bytes(b"planted")
    virtual_evse.PAA_CACHE.mkdir(mode=0o700, parents=True)
    (virtual_evse.PAA_CACHE / "matter.js-1.2.3-abc").symlink_to(elsewhere)
    run = virtual_evse.cached_paa(tmp_path / "run" / "paa")
    assert (run / "Chip-Test-PAA-NoVID-Cert.der").read_bytes() == DER
