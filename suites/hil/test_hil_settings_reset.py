"""HIL-FACTORY: after a factory reset every Energy EVSE attribute with a declared default reads that default.

The TH notes the DUT's settings (the writable attributes and, with PREF, the charging targets), factory-resets the
DUT where the DUT kind offers a means, re-establishes CASE and reads every attribute for which spec/EnergyEVSE.xml
declares a default (the list comes from the XML through ``rig.spec``, filtered by the DUT's PICS): each must read
its default. Two attributes hold the installation's values rather than factory defaults, as the Matter 1.4 cluster
specification (section 9.3, Energy EVSE attributes) describes them: CircuitCapacity is the installer's setting (its
default 0 stands for "not set"; a reset of the EVSE's settings leaves the installation as it is), so it is noted, not
compared; UserMaximumChargeCurrent's default SHOULD equal CircuitCapacity, so it must read the XML default (0) or
CircuitCapacity. At the end the TH writes the noted settings back (SessionID starts again from null: a factory-new
counter cannot be given back).

The means: the virtual EVSE's power is switched off, its firmware store (the Energy EVSE's settings and session data)
erased and its power switched on; its Matter fabrics stay, so the session stays commissioned (the rig's own
commissioning of a factory-new device is every virtual run's start on fresh storage). A real EVSE's factory reset
also removes every fabric, the rig's too: the case is skipped there, naming the reason, unless the DUT kind offers a
means (``rig.dut``).

The file's name puts the case last among the HIL cases: its reboot is then far from the other cases' power cycles
(the virtual EVSE's next boot is quick only once its spare process has loaded again, a few seconds later).
"""

from __future__ import annotations

import contextlib
import time

import pytest

from rig.steps import TestStep
from suites.hil.spec_values import NULL, has_default, measured, non_default_write, present, spec_default
from suites.hil.support import after_reboot

pytestmark = [
    pytest.mark.tc("HIL-FACTORY", "Factory-new attribute values are the spec defaults"),
    pytest.mark.pics("EEVSE.S"),
]

INSTALLATION = "CircuitCapacity"
"""The installer's setting: noted, not compared with the XML default (see the module docstring)."""
SHOULD_EQUAL_CAPACITY = "UserMaximumChargeCurrent"
"""Its default SHOULD equal CircuitCapacity (see the module docstring)."""
PREF_FEATURE = "EEVSE.S.F00"

STEPS = [
    TestStep("1", "Commission DUT to TH (done by the session)", is_commissioning=True),
    TestStep(
        "2",
        "TH reads the writable attributes and, with PREF, GetTargets; writes each writable attribute a value other "
        "than its XML default",
        "Values noted to give back; SUCCESS",
    ),
    TestStep(
        "3",
        "Factory reset of the DUT (virtual: power off, firmware store erased, power on; fabrics kept)",
        "The DUT reboots (StartUp event); TH re-establishes CASE and resubscribes",
    ),
    TestStep(
        "4",
        "TH reads every attribute with a default in spec/EnergyEVSE.xml",
        "Each reads its XML default; CircuitCapacity noted; UserMaximumChargeCurrent the default 0 or CircuitCapacity",
    ),
    TestStep("5", "TH writes the noted settings back and, with PREF, sends SetTargets", "SUCCESS"),
]


async def test_hil_factory_new(steps, evse, evse_events, dut, bench, pics) -> None:
    reason = dut.factory_reset_unavailable()
    if reason is not None:
        steps.skip_remaining(reason)
        pytest.skip(reason)
    attrs, missing = present(pics)
    has_pref = pics.check(PREF_FEATURE)

    steps.step("1")
    steps.step("2")
    settings = {a.name: await evse.read(a.name) for a in attrs if a.writable}
    steps.note(", ".join(f"{name} = {measured(v)}" for name, v in settings.items()) or "no writable attribute")
    targets = await evse.get_targets() if has_pref else []
    if has_pref:
        steps.note(f"GetTargets: {len(targets)} schedule(s)")

    async def give_back() -> None:
        for name, value in settings.items():
            if measured(await evse.read(name)) != measured(value):
                await evse.write(name, value)
                steps.note(f"{name} = {measured(value)} written back")
        if targets:
            await evse.set_targets(targets)
            steps.note(f"SetTargets: {len(targets)} schedule(s) given back")

    try:
        for a in attrs:  # set apart from the defaults, so that the reset is seen to give them back
            if a.writable:
                await evse.write(a.name, non_default_write(a))
        await _reset_and_check(steps, evse, evse_events, dut, bench, attrs, missing)
    except BaseException:
        with contextlib.suppress(Exception):  # the DUT as found, as far as it answers; the failure stays the case's
            await give_back()
        raise
    steps.step("5")
    await give_back()


async def _reset_and_check(steps, evse, evse_events, dut, bench, attrs, missing) -> None:
    steps.step("3")
    steps.note(await dut.factory_reset(bench))
    await after_reboot(steps, evse, evse_events, time.monotonic())

    steps.step("4")
    for text in missing:
        steps.note(f"not checked: {text}")
    capacity = measured(await evse.read(INSTALLATION)) if any(a.name == INSTALLATION for a in attrs) else None
    for a in attrs:
        if not has_default(a):
            continue
        value = measured(await evse.read(a.name))
        if a.name == INSTALLATION:
            steps.note(f"{a.name} = {value} mA: the installer's setting, not compared with the XML default {a.default}")
        elif a.name == SHOULD_EQUAL_CAPACITY:
            allowed = [spec_default(a)] + ([capacity] if capacity not in (None, NULL) else [])
            steps.measure(
                f"{a.name} = {value} is one of {allowed} (XML default, or CircuitCapacity)",
                value in allowed,
                expected=True,
            )
        else:
            steps.measure(f"{a.name} (XML default)", value, expected=spec_default(a))
