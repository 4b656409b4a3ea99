"""What at-least-once delivery asks of a subscriber: recognise an alert it has already seen.

The worker may publish an alert twice (a crash or a rebalance replays what was processed
since the last commit); the copy has the same `alert_id`, a UUIDv5 of dispatch id and topic.
"""

from __future__ import annotations

import json
from collections import OrderedDict


class SeenAlerts:
    """The most recent `capacity` alert ids, to drop redelivered alerts. Messages without an
    `alert_id` (not alerts, not JSON) are never taken for duplicates."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def is_duplicate(self, value: bytes | None) -> bool:
        """True when an alert with this value's `alert_id` was seen; remembers it otherwise."""
        alert_id = _alert_id(value)
        if alert_id is None:
            return False
        if alert_id in self._ids:
            self._ids.move_to_end(alert_id)
            return True
        self._ids[alert_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False


def _alert_id(value: bytes | None) -> str | None:
    if not value:
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    found = document.get("alert_id") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None
