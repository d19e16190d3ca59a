"""The in-process event bus: committed events fan out to live subscribers.

Events are written to the ``events`` table inside the write transaction that causes
them (so an event exists iff its change committed) and published here after commit.
Subscribers (WebSocket connections) also read the table on connect and on a short poll,
so an event committed by another process, or published while a subscriber was
reconnecting, is never lost: the table is the truth, the bus only makes it fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["EventBus"]

Event = dict[str, Any]


class EventBus:
    """Fan-out of committed events to in-process subscribers.

    Each batch is passed with a flag ``contiguous``: true when its first sequence number
    follows the last one this bus published, i.e. nothing was committed in between by
    another process (or lost to a rolled-back sequence value).  A subscriber may send a
    contiguous batch as it is; otherwise it reads the event table from its last
    sequence number, so an event written elsewhere is never skipped.
    """

    def __init__(self) -> None:
        self._subscribers: dict[int, Callable[[list[Event], bool], None]] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._last: int | None = None

    def subscribe(self, callback: Callable[[list[Event], bool], None]) -> int:
        """Call ``callback(events, contiguous)`` (from the publishing thread) for every batch."""
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = callback
            return self._next

    def unsubscribe(self, handle: int) -> None:
        with self._lock:
            self._subscribers.pop(handle, None)

    def publish(self, events: list[Event]) -> None:
        if not events:
            return
        with self._lock:
            callbacks = list(self._subscribers.values())
            contiguous = self._last is not None and events[0]["seq"] == self._last + 1
            self._last = events[-1]["seq"]
        for callback in callbacks:
            callback(events, contiguous)

    def __len__(self) -> int:
        return len(self._subscribers)
