"""Change notifications from services to whoever listens (GUI, CLI, tests).

Published after a transaction commits, on the thread that ran it; a GUI subscriber must marshal
to its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeEvent:
    kind: str  # e.g. "model", "version", "promotion", "settings", "user"
    entity_id: str
    action: str


Subscriber = Callable[[ChangeEvent], None]


class ChangeBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it again."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, change: ChangeEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(change)
            except Exception:
                # One broken listener must not undo or hide a committed change.
                log.exception("change subscriber failed for %s", change)
