"""The collection plugin: applicability at collection, the pics fixture, contradictions; a real pytest run.

The inner suites need no DUT: the contradiction test overrides ``dut_node`` and ``pics_dut_elements`` in the
module, as a DUT would provide them.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "pics"

SUITE = textwrap.dedent("""
    import pytest
    from rig.pytest_plugin.state import PICS_KEY

    @pytest.mark.tc("TC-X-9.9", "RFID")
    @pytest.mark.pics("EEVSE.S", "EEVSE.S.F03")
    def test_rfid(pics):
        assert pics.check("EEVSE.S.F03")

    @pytest.mark.pics("EEVSE.S")
    def test_base(pics, request):
        state = request.config.stash[PICS_KEY]
        print("SKIPPED-MAP", sorted(state.skipped.items()))
        print("RFID-EVENT", pics.check("EEVSE.S.E05"), "ANYTHING", pics.check("NOPE.S"))

    @pytest.mark.pics("EEVSE.S")
    class TestGroup:
        @pytest.mark.pics("EEVSE.S.F04", "EEVSE.S.F03")
        def test_v2x_and_rfid(self):
            pass

    def test_unmarked():
        pass
""")

CONTRADICTING = textwrap.dedent("""
    import pytest
    from rig.pics import DutElements

    @pytest.fixture(scope="session")
    def dut_node():
        return object()

    @pytest.fixture(scope="session")
    def pics_dut_elements():
        attrs = tuple(range(0, 11)) + (0x23, 0x24, 0x25, 0x26, 0x27, 0x30, 0x31, 0x32, 0x40, 0x41, 0x42, 0x43)
        return DutElements(0x1F, attrs, (1, 2, 3, 4, 5, 6, 7), (0,), None)

    def test_before_dut():
        pass

    def test_uses_dut(dut_node):
        assert False, "obscure failure"

    def test_again(dut_node):
        pass
""")


NO_V2X_DUT = textwrap.dedent("""
    import pytest
    from rig.pics import DutElements
    from rig.steps import TestStep

    STEPS = [TestStep("1", "reads State"), TestStep("2", "reads DischargingEnabledUntil", pics="EEVSE.S.A0004"),
             TestStep("3", "reads UserMaximumChargeCurrent", pics="EEVSE.S.A0009")]

    @pytest.fixture(scope="session")
    def dut_node():
        return object()

    @pytest.fixture(scope="session")
    def pics_dut_elements():  # every feature but V2X (bit 4): no 0x0004, 0x0008, 0x0043, no EnableDischarging
        attrs = tuple(range(0, 4)) + (5, 6, 7, 9, 10, 0x23, 0x24, 0x25, 0x26, 0x27, 0x30, 0x31, 0x32, 0x40, 0x41, 0x42)
        return DutElements(0x0F, attrs, (1, 2, 4, 5, 6, 7), (0,), None)

    @pytest.mark.tc("TC-X-2.10", "V2X")
    @pytest.mark.pics("EEVSE.S", "EEVSE.S.F04")
    def test_v2x(dut_node):
        raise AssertionError("must not run: the DUT lacks V2X")

    @pytest.mark.pics("EEVSE.S")
    def test_steps(dut_node, steps, pics):
        steps.step("1")
        steps.step("2")
        assert not steps.pics_guard()
        steps.step("3")
        assert steps.pics_guard()
        print("REASONS", [r.skip_reason for r in steps.records])
        print("DESCRIBE", pics.describe())

    def test_without_dut(pics):
        print("NO-DUT", pics.check("EEVSE.S.F04"))
""")


def run_pytest(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    suite = tmp_path / "test_inner.py"
    suite.write_text(source)
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
        "-c", str(ROOT / "pyproject.toml"), "-o", "testpaths=", "--rig-config", str(ROOT / "rig.yaml"),
        "-rs", "-s", *args, str(suite),
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_cases_lacking_pics_are_skipped_with_the_missing_codes(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, SUITE, "--pics", str(EXAMPLES / "virtual-evse-rfid-off.xml"))
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "2 passed, 2 skipped" in out
    assert "rig: PICS: " in out and "virtual-evse-rfid-off.xml: 41 of 43 items supported" in out
    assert "PICS not supported: EEVSE.S.F03 (PICS file virtual-evse-rfid-off.xml)" in out
    # the class marker and the method marker are merged; only the unsupported code is listed
    assert "::TestGroup::test_v2x_and_rfid: lacks EEVSE.S.F03" in out
    assert "TC-X-9.9 " in out and "::test_rfid: lacks EEVSE.S.F03" in out
    assert "::TestGroup::test_v2x_and_rfid', ['EEVSE.S.F03']), (" in out
    assert "RFID-EVENT False ANYTHING False" in out


def test_without_pics_every_case_runs(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, SUITE)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "4 passed" in out and "skipped" not in out
    assert "rig: PICS: none given: derived from the DUT" in out
    assert "RFID-EVENT True ANYTHING True" in out, "without a PICS file nor a DUT, check() is True for every key"


def test_rig_yaml_dut_pics_is_used_and_pics_option_wins(tmp_path: Path) -> None:
    rfid_off = str(EXAMPLES / "virtual-evse-rfid-off.xml")
    proc = run_pytest(tmp_path, SUITE, "--rig-set", f"dut.pics={rfid_off}")
    assert "2 passed, 2 skipped" in proc.stdout, proc.stdout + proc.stderr
    full = str(EXAMPLES / "virtual-evse.txt")
    proc = run_pytest(tmp_path, SUITE, "--rig-set", f"dut.pics={rfid_off}", "--pics", full)
    assert "4 passed" in proc.stdout and "virtual-evse.txt: 43 of 43" in proc.stdout, proc.stdout + proc.stderr


def test_malformed_pics_file_is_a_usage_error_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("EEVSE.S=1\nEEVSE.S.F03=maybe\n")
    proc = run_pytest(tmp_path, SUITE, "--pics", str(bad))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"{bad}:2: PICS EEVSE.S.F03 must have the value 0 or 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_keys_are_warned_in_the_header(tmp_path: Path) -> None:
    odd = tmp_path / "odd.txt"
    odd.write_text("EEVSE.S=1\nEEVSE.S.A0999=1\n")
    proc = run_pytest(tmp_path, SUITE, "--pics", str(odd))
    assert f"rig: PICS warning: {odd}:2: EEVSE.S.A0999 is not an Energy EVSE" in proc.stdout, proc.stdout


def test_contradictions_are_stated_once_the_dut_is_reached(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, CONTRADICTING, "--pics", str(EXAMPLES / "virtual-evse-rfid-off.xml"))
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    text = "PICS says EEVSE.S.F03=0 but the DUT's FeatureMap has RFID (bit 3)"
    assert f"rig: PICS contradiction: {text}" in out, "printed when found"
    assert "PICS contradicts the DUT" in out.split("short test summary")[0], "in the terminal summary"
    assert "rig: the PICS file contradicts the DUT" in out, "attached to the failing case"
    assert out.count(f"rig: PICS contradiction: {text}") == 1, "compared once per session"


def test_no_comparison_without_a_pics_file(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, CONTRADICTING)
    assert "contradict" not in proc.stdout, proc.stdout


def test_without_a_pics_file_the_dut_decides_cases_and_steps(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, NO_V2X_DUT)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "2 passed, 1 skipped" in out, out
    v2x = "PICS EEVSE.S.F04 not supported: the DUT's FeatureMap lacks V2X (bit 4)"
    assert f"not applicable: {v2x} (PICS derived from the DUT, no PICS file given)" in out, out
    assert "TC-X-2.10 " in out and "::test_v2x: lacks EEVSE.S.F04" in out, "listed as not applicable"
    step2 = (
        "PICS EEVSE.S.A0004 not supported: the DUT's AttributeList lacks 0x0004 DischargingEnabledUntil "
        "(PICS derived from the DUT, no PICS file given)"
    )
    assert f"REASONS [None, {step2!r}, None]" in out, out
    assert "DESCRIBE no PICS file: derived from the DUT's FeatureMap 0xF" in out
    assert "NO-DUT True" in out, "a case without the DUT gets Pics.everything()"
    assert "contradict" not in out
