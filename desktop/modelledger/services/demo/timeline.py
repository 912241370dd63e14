"""The demo build's history: actions at moments, played in time order on a simulated clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta


class DemoClock:
    """The demo build's simulated time. Every write of the demo workspace reads it; the build
    plays its history in time order, so it only ever moves forward."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError(f"the demo history would go back from {self._now} to {moment}")
        self._now = moment


class Timeline:
    """The demo's history: actions at moments, played in time order on the demo clock.

    Registry work happens in office hours and the scheduled runs shortly after 06:00, so a run
    and a review never share a moment."""

    def __init__(self, first_slot: datetime) -> None:
        self.first_slot = first_slot
        self._day_zero = first_slot.replace(hour=0, minute=0, second=0, microsecond=0)
        # Before anything planned; the first step moves it to its own moment.
        self.clock = DemoClock(self._day_zero - timedelta(days=100))
        self._steps: list[tuple[datetime, int, Callable[[], object]]] = []

    def moment(self, day: int, time: str) -> datetime:
        """``time`` ("14:30", UTC) on ``day``, counted from the first monitoring day."""
        hour, minute = (int(part) for part in time.split(":"))
        return self._day_zero + timedelta(days=day, hours=hour, minutes=minute)

    def on(self, day: int, time: str, action: Callable[[], object]) -> None:
        self.at(self.moment(day, time), action)

    def at(self, moment: datetime, action: Callable[[], object]) -> None:
        self._steps.append((moment, len(self._steps), action))

    def play(self) -> None:
        steps, self._steps = sorted(self._steps, key=lambda step: step[:2]), []
        for moment, _, action in steps:
            self.clock.advance_to(moment)
            action()
