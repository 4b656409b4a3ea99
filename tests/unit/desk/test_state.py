"""What the desk holds: each alert once, bounded, and what a resuming stream must get."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import Alert, alert_id_for
from streams.desk.state import AlertBuffer, DispatchCache

T0 = datetime(2021, 4, 14, 12, tzinfo=UTC)


def alert(dispatch_id: str, topic: str = "withdrawal", minutes: int = 0) -> Alert:
    return Alert(alert_id=alert_id_for(dispatch_id, topic), topic=topic, score=0.9,
                 evidence=[], dispatch_id=dispatch_id, headline=f"headline {dispatch_id}",
                 entities=[], alerted_at=T0 + timedelta(minutes=minutes))


def test_a_redelivered_alert_is_held_once():
    buffer = AlertBuffer(capacity=10)
    assert buffer.add(alert("a")) is not None
    assert buffer.add(alert("a")) is None
    assert buffer.add(alert("a", topic="iran-deal")) is not None  # another topic: another alert
    assert len(buffer) == 2


def test_the_buffer_keeps_the_newest_and_still_knows_the_older_ids():
    buffer = AlertBuffer(capacity=3)
    for n in range(5):
        buffer.add(alert(f"d{n}"))
    assert [h.alert_id for h in buffer.since(None)] == [
        alert_id_for(f"d{n}", "withdrawal") for n in (2, 3, 4)]
    assert buffer.add(alert("d0")) is None, "scrolled out, yet not shown again"


def test_history_is_held_oldest_first_by_when_it_was_raised():
    buffer = AlertBuffer(capacity=2)
    buffer.add_history([alert("late", minutes=9), alert("early", minutes=1),
                        alert("middle", minutes=5)])
    assert [Alert.model_validate_json(h.json).dispatch_id for h in buffer.since(None)] == [
        "middle", "late"]


def test_a_stream_resuming_on_this_desk_gets_what_came_after_its_last_event():
    buffer = AlertBuffer(capacity=10)
    first = buffer.add(alert("a"))
    assert first is not None
    buffer.add(alert("b"))
    buffer.add(alert("c"))
    resumed = buffer.since(buffer.event_id(first))
    assert [h.alert_id for h in resumed] == [alert_id_for(x, "withdrawal") for x in "bc"]


def test_a_stream_resuming_from_another_desk_gets_everything_held():
    other, this = AlertBuffer(capacity=10), AlertBuffer(capacity=10)
    held = other.add(alert("a"))
    assert held is not None
    this.add(alert("a"))
    this.add(alert("b"))
    assert len(this.since(other.event_id(held))) == 2, "an unknown epoch: no gap, resend all"
    assert len(this.since("garbage")) == 2


def test_held_alerts_are_one_line_of_json_whatever_the_text():
    buffer = AlertBuffer(capacity=10)
    hostile = alert("x").model_copy(update={"headline": "a\nb\r\ndata: <script>"})
    held = buffer.add(hostile)
    assert held is not None and "\n" not in held.json and "\r" not in held.json


def test_the_dispatch_cache_keeps_the_most_recent():
    cache = DispatchCache(capacity=2)
    for n in range(3):
        cache.add(f"d{n}", f"{n}".encode())
    assert (cache.get("d0"), cache.get("d1"), cache.get("d2")) == (None, b"1", b"2")
