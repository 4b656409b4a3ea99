"""What at-least-once delivery asks of a subscriber: recognise an alert it has already seen.

The worker may publish an alert twice (a crash or a rebalance replays what was processed
since the last commit); the copy has the same `alert_id` (a UUIDv5 of story and topic) and
the same `revision`. A later revision of the same alert is news (an update, a retraction)
and a revision older than one already seen is stale: only the newest is worth showing.
"""

from __future__ import annotations

import json
from collections import OrderedDict


class SeenAlerts:
    """The latest revision of the most recent `capacity` alerts, to drop redelivered and
    stale ones. Messages without an `alert_id` (not alerts, not JSON) are never taken for
    duplicates; an alert without a `revision` is at revision 1."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._revisions: OrderedDict[str, int] = OrderedDict()

    def is_duplicate(self, value: bytes | None) -> bool:
        """True when this alert's revision, or a later one, was seen; remembers it otherwise."""
        found = _alert_revision(value)
        if found is None:
            return False
        alert_id, revision = found
        seen = self._revisions.get(alert_id)
        if seen is not None:
            self._revisions.move_to_end(alert_id)
            if revision <= seen:
                return True
        self._revisions[alert_id] = revision
        if len(self._revisions) > self.capacity:
            self._revisions.popitem(last=False)
        return False


def _alert_revision(value: bytes | None) -> tuple[str, int] | None:
    if not value:
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    alert_id, revision = document.get("alert_id"), document.get("revision", 1)
    if not isinstance(alert_id, str):
        return None
    return alert_id, revision if isinstance(revision, int) else 1
