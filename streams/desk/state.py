"""What the desk holds, in bounded memory: the recent alerts (each at its latest revision) and
the recent enriched dispatches, and what a live stream must send to catch up. Plain objects,
no Kafka, no web."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from schemas import Alert, SurgeAlert

# What the desk holds: alerts of the watches, and surge alerts (said once: revision 1).
AnyAlert = Alert | SurgeAlert


def revision_of(alert: AnyAlert) -> int:
    return alert.revision if isinstance(alert, Alert) else 1


@dataclass(frozen=True)
class HeldAlert:
    """An alert as the desk serves it: its sequence number in this desk and its JSON."""

    seq: int
    alert_id: str
    revision: int
    json: str  # re-serialized by the model: one line, whatever the producer wrote
    kind: str = "alert"  # the live stream's event name: "alert", or "surge" for a surge


class AlertBuffer:
    """The last `capacity` distinct alerts, each at the latest revision received, in the order
    the desk received those revisions.

    An alert is published again, with the same `alert_id` and a higher `revision`, each time
    a later version of its story changes it (or retracts it). A higher revision takes a new
    sequence number and replaces the older one in the buffer, so a stream catching up gets
    the newer revision and never the superseded one; a revision at or below the one already
    received (a redelivery, or an older revision arriving late) is dropped.

    Live-stream event ids are `<epoch>:<seq>`; the epoch changes with every desk process, so
    a browser reconnecting to a restarted desk (or to another desk behind the same proxy)
    gets the whole buffer again and deduplicates on (`alert_id`, `revision`), instead of a
    gap.
    """

    def __init__(self, capacity: int, remembered_ids: int = 100_000) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self._capacity = capacity
        # Held alerts by id, in sequence order: a new revision moves its alert to the end.
        self._alerts: OrderedDict[str, HeldAlert] = OrderedDict()
        # The latest revision received of each id, beyond those held: a redelivery (or an
        # older revision) of an alert that already scrolled out of the buffer is still not
        # shown again. Least recently revised out first.
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._remembered_ids = remembered_ids
        self._seq = 0
        self.ignored = 0  # alerts received at or below a revision already received

    def __len__(self) -> int:
        return len(self._alerts)

    def add(self, alert: AnyAlert) -> HeldAlert | None:
        """Hold `alert`, in place of any older revision of it; None when a revision of it at
        least as high was already received."""
        seen = self._seen.get(alert.alert_id)
        if seen is not None and revision_of(alert) <= seen:
            self.ignored += 1
            return None
        self._remember(alert)
        self._seq += 1
        held = HeldAlert(self._seq, alert.alert_id, revision_of(alert), alert.model_dump_json(),
                         "surge" if isinstance(alert, SurgeAlert) else "alert")
        self._alerts.pop(alert.alert_id, None)
        self._alerts[alert.alert_id] = held
        while len(self._alerts) > self._capacity:
            self._alerts.popitem(last=False)
        return held

    def add_history(self, alerts: Iterable[AnyAlert]) -> None:
        """Hold alerts read back from the topics: the latest revision of each, oldest first
        by when it was raised."""
        latest: dict[str, AnyAlert] = {}
        for alert in alerts:
            known = latest.get(alert.alert_id)
            if known is None or revision_of(alert) > revision_of(known):
                latest[alert.alert_id] = alert
        ordered = sorted(latest.values(), key=lambda a: a.alerted_at)
        for alert in ordered[:-self.capacity]:  # not held, but known: not shown again
            self._remember(alert)
        for alert in ordered[-self.capacity:]:
            self.add(alert)

    def _remember(self, alert: AnyAlert) -> None:
        self._seen[alert.alert_id] = revision_of(alert)
        self._seen.move_to_end(alert.alert_id)
        if len(self._seen) > self._remembered_ids:
            self._seen.popitem(last=False)

    @property
    def capacity(self) -> int:
        return self._capacity

    def event_id(self, held: HeldAlert) -> str:
        return f"{self.epoch}:{held.seq}"

    def since(self, last_event_id: str | None) -> list[HeldAlert]:
        """What a stream resuming after `last_event_id` has not seen: the alerts revised
        after it when it is one of this desk's, else all held (oldest first); each at its
        latest revision."""
        if last_event_id:
            epoch, _, seq = last_event_id.partition(":")
            if epoch == self.epoch and seq.isdigit():
                return [held for held in self._alerts.values() if held.seq > int(seq)]
        return list(self._alerts.values())


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
