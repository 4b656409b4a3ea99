"""The desk holds surge alerts beside the alerts of the watches: served as `surge` events,
said once (revision 1), a redelivery ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import SurgeAlert, SurgeHeadline, surge_alert_id
from streams.desk.state import AlertBuffer

END = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)


def a_surge() -> SurgeAlert:
    return SurgeAlert(
        alert_id=surge_alert_id("withdrawal", END), kind="watch", key="withdrawal",
        name="withdrawal", count=23, baseline_mean=9.8, baseline_spread=3.1, z_score=4.2,
        window_start=END - timedelta(hours=1), window_end=END, alerted_at=END,
        top_headlines=[SurgeHeadline(story_id="s1", dispatch_id="d1", headline="Retrait",
                                     score=0.9, published_at=END)])


def test_a_surge_is_held_as_a_surge_event_and_its_redelivery_ignored():
    buffer = AlertBuffer(capacity=10)
    surge = a_surge()
    held = buffer.add(surge)
    assert held is not None
    assert (held.kind, held.revision) == ("surge", 1)
    assert SurgeAlert.model_validate_json(held.json) == surge
    assert buffer.add(surge) is None and buffer.ignored == 1


def test_surges_read_back_are_held_in_the_order_they_were_raised():
    buffer = AlertBuffer(capacity=10)
    later = a_surge().model_copy(update={
        "alert_id": surge_alert_id("withdrawal", datetime(2026, 3, 3, tzinfo=UTC)),
        "alerted_at": a_surge().alerted_at + timedelta(days=1)})
    buffer.add_history([later, a_surge(), a_surge()])
    assert [h.alert_id for h in buffer.since(None)] == [a_surge().alert_id, later.alert_id]
