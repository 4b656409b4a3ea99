"""What the desk holds, in bounded memory: the recent alerts (each once) and the recent enriched
dispatches, and what a live stream must send to catch up. Plain objects, no Kafka, no web."""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from schemas import Alert


@dataclass(frozen=True)
class HeldAlert:
    """An alert as the desk serves it: its sequence number in this desk and its JSON."""

    seq: int
    alert_id: str
    json: str  # re-serialized by the model: one line, whatever the producer wrote


class AlertBuffer:
    """The last `capacity` distinct alerts, in the order the desk received them.

    Live-stream event ids are `<epoch>:<seq>`; the epoch changes with every desk process, so
    a browser reconnecting to a restarted desk (or to another desk behind the same proxy)
    gets the whole buffer again and deduplicates on `alert_id`, instead of a gap.
    """

    def __init__(self, capacity: int, remembered_ids: int = 100_000) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self._alerts: deque[HeldAlert] = deque(maxlen=capacity)
        # Ids seen, beyond those held: a redelivery of an alert that already scrolled out of
        # the buffer is still not shown again.
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remembered_ids = remembered_ids
        self._seq = 0

    def __len__(self) -> int:
        return len(self._alerts)

    def add(self, alert: Alert) -> HeldAlert | None:
        """Hold `alert`; None when an alert with its id was already received."""
        if alert.alert_id in self._seen:
            return None
        self._seen[alert.alert_id] = None
        if len(self._seen) > self._remembered_ids:
            self._seen.popitem(last=False)
        self._seq += 1
        held = HeldAlert(self._seq, alert.alert_id, alert.model_dump_json())
        self._alerts.append(held)
        return held

    def add_history(self, alerts: Iterable[Alert]) -> None:
        """Hold alerts read back from the topics, oldest first by when they were raised."""
        for alert in sorted(alerts, key=lambda a: a.alerted_at)[-self.capacity:]:
            self.add(alert)

    @property
    def capacity(self) -> int:
        return self._alerts.maxlen or 0

    def event_id(self, held: HeldAlert) -> str:
        return f"{self.epoch}:{held.seq}"

    def since(self, last_event_id: str | None) -> list[HeldAlert]:
        """What a stream resuming after `last_event_id` has not seen: the alerts after it when
        it is one of this desk's, else all held (oldest first)."""
        if last_event_id:
            epoch, _, seq = last_event_id.partition(":")
            if epoch == self.epoch and seq.isdigit():
                return [held for held in self._alerts if held.seq > int(seq)]
        return list(self._alerts)


class DispatchCache:
    """The last `capacity` enriched dispatches by id, as their JSON (least recently added out)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, dispatch_id: str, value: bytes) -> None:
        self._items[dispatch_id] = value
        self._items.move_to_end(dispatch_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, dispatch_id: str) -> bytes | None:
        return self._items.get(dispatch_id)
