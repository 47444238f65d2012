"""The EVSE's own power supply on the virtual bench: fed from the plant's mains, with a hold-up time.

A charger's electronics run from a power supply on its mains input. The supply rides through a short dip on the
energy in its capacitors (its hold-up time, typically one mains cycle: 20 ms at 50 Hz, the class of interruption
IEC 61000-4-11 tests), and needs a minimum input voltage (universal-input supplies: 85 V rms). :class:`EvseSupply`
watches the plant: the supply is **lost** once the mains (AC source output off, or below :data:`SUPPLY_MIN_V`) has
stayed missing for longer than the hold-up time, and **back** as soon as the mains is there again. A charger without
a backup supply then loses power (its firmware stops where it is) and boots again when the supply returns;
:mod:`rig.dut.virtual` does that to the virtual EVSE when the virtual bench reports the changes.

The monitor runs on the plant's clock (list-program boundaries included), so its timing is exact on simulated time.
"""

from __future__ import annotations

from collections.abc import Callable

from rig.sim.plant import Plant, TimerHandle

SUPPLY_MIN_V = 85.0
"""Lowest mains voltage the EVSE's supply runs on, V rms (the universal-input range starts at 85 V)."""
HOLDUP_S = 0.020
"""How long the supply rides through a missing mains, s (one cycle at 50 Hz)."""


class EvseSupply:
    """Whether the EVSE's supply is on, from the plant's mains; ``on_change(supplied, t_ns)`` on every change.

    The initial state is the mains' at construction (no call). A loss is reported ``holdup_s`` after the mains went
    missing (at that instant on the plant clock), unless it came back meanwhile; a return at once.

    Args:
        plant: the plant whose mains feeds the supply.
        on_change: called with the new state and the plant time of the change, ns.
        min_v: lowest mains voltage the supply runs on, V rms.
        holdup_s: hold-up time, s.
    """

    def __init__(
        self,
        plant: Plant,
        on_change: Callable[[bool, int], None],
        *,
        min_v: float = SUPPLY_MIN_V,
        holdup_s: float = HOLDUP_S,
    ) -> None:
        self.plant = plant
        self.on_change = on_change
        self.min_v = min_v
        self.holdup_ns = round(holdup_s * 1e9)
        self.supplied = self._mains_ok()
        self._loss: TimerHandle | None = None
        plant.add_listener(self._on_plant)

    def _mains_ok(self) -> bool:
        return self.plant.ac_on and self.plant.mains_v() >= self.min_v

    def _on_plant(self, plant: Plant) -> None:
        if self._mains_ok():
            if self._loss is not None:
                self._loss.cancel()  # back within the hold-up time: ridden through
                self._loss = None
            if not self.supplied:
                self.supplied = True
                self.on_change(True, plant.now_ns())
        elif self.supplied and self._loss is None:
            self._loss = plant.clock.call_at(plant.now_ns() + self.holdup_ns, self._hold_up_over)

    def _hold_up_over(self) -> None:
        self._loss = None
        if self.supplied and not self._mains_ok():
            self.supplied = False
            self.on_change(False, self.plant.now_ns())

    def close(self) -> None:
        """Stop watching the plant (a pending loss is not reported)."""
        self.plant.remove_listener(self._on_plant)
        if self._loss is not None:
            self._loss.cancel()
            self._loss = None
