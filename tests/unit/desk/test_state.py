"""What the desk holds: each alert once, at its latest revision, bounded, and what a resuming
stream must get."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import Alert, alert_id_for
from streams.desk.state import AlertBuffer, DispatchCache

T0 = datetime(2021, 4, 14, 12, tzinfo=UTC)


def alert(dispatch_id: str, topic: str = "withdrawal", minutes: int = 0, revision: int = 1,
          headline: str | None = None) -> Alert:
    status = "new" if revision == 1 else "updated"
    return Alert(alert_id=alert_id_for(dispatch_id, topic), topic=topic, score=0.9,
                 evidence=[], dispatch_id=dispatch_id,
                 headline=headline or f"headline {dispatch_id}", entities=[],
                 alerted_at=T0 + timedelta(minutes=minutes), revision=revision, status=status)


def held_alerts(buffer: AlertBuffer, last_event_id: str | None = None) -> list[Alert]:
    return [Alert.model_validate_json(h.json) for h in buffer.since(last_event_id)]


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


def test_a_redelivered_revision_is_ignored():
    buffer = AlertBuffer(capacity=10)
    assert buffer.add(alert("a")) is not None
    assert buffer.add(alert("a", revision=2, headline="second")) is not None
    assert buffer.add(alert("a", revision=2, headline="second")) is None
    assert buffer.add(alert("a")) is None
    assert buffer.ignored == 2
    assert [(a.revision, a.headline) for a in held_alerts(buffer)] == [(2, "second")]


def test_a_higher_revision_replaces_the_held_one_with_a_new_sequence_number():
    buffer = AlertBuffer(capacity=10)
    first = buffer.add(alert("a"))
    buffer.add(alert("b"))
    second = buffer.add(alert("a", revision=2, headline="rewritten"))
    assert first is not None and second is not None
    assert second.seq > first.seq and (second.alert_id, second.revision) == (first.alert_id, 2)
    assert len(buffer) == 2, "one alert, not one per revision"
    assert [(a.dispatch_id, a.revision, a.status) for a in held_alerts(buffer)] == [
        ("b", 1, "new"), ("a", 2, "updated")], "the newer revision, in the order received"


def test_a_lower_revision_after_a_higher_one_is_ignored():
    buffer = AlertBuffer(capacity=10)
    assert buffer.add(alert("a", revision=3, headline="third")) is not None
    assert buffer.add(alert("a", revision=2, headline="second")) is None
    assert buffer.add(alert("a", revision=1)) is None
    assert [(a.revision, a.headline) for a in held_alerts(buffer)] == [(3, "third")]


def test_a_retraction_is_a_revision_like_any_other():
    buffer = AlertBuffer(capacity=10)
    buffer.add(alert("a"))
    retracted = alert("a", revision=2).model_copy(
        update={"status": "retracted", "score": 0.0, "evidence": []})
    assert buffer.add(retracted) is not None
    [shown] = held_alerts(buffer)
    assert (shown.revision, shown.status, shown.score) == (2, "retracted", 0.0)


def test_a_resuming_stream_gets_only_the_newer_revision_of_a_replaced_alert():
    buffer = AlertBuffer(capacity=10)
    buffer.add(alert("a"))
    seen = buffer.add(alert("b"))
    assert seen is not None
    buffer.add(alert("a", revision=2, headline="rewritten"))
    resumed = held_alerts(buffer, buffer.event_id(seen))
    assert [(a.dispatch_id, a.revision) for a in resumed] == [("a", 2)]
    assert [(a.dispatch_id, a.revision) for a in held_alerts(buffer)] == [("b", 1), ("a", 2)]
    other = AlertBuffer(capacity=10)
    assert len(held_alerts(buffer, other.event_id(seen))) == 2, "another desk: all, once each"


def test_revisions_stay_bounded_and_remembered_after_they_scroll_out():
    buffer = AlertBuffer(capacity=3, remembered_ids=5)
    for revision in range(1, 20):
        buffer.add(alert("a", revision=revision))
    assert len(buffer) == 1
    for n in range(4):
        buffer.add(alert(f"d{n}"))
    assert len(buffer) == 3
    assert [a.dispatch_id for a in held_alerts(buffer)] == ["d1", "d2", "d3"]
    assert buffer.add(alert("a", revision=19)) is None, "scrolled out, yet still known"
    assert buffer.add(alert("a", revision=20)) is not None, "a newer revision shows again"
    for n in range(4, 9):
        buffer.add(alert(f"d{n}"))
    # Five ids revised since: "a" is forgotten, as the memory of revisions is bounded too.
    assert buffer.add(alert("a", revision=1)) is not None


def test_an_alert_from_an_older_producer_is_revision_one_and_new():
    old = Alert.model_validate_json(
        alert("a").model_dump_json(exclude={"revision", "status"}))
    assert (old.revision, old.status) == (1, "new")
    buffer = AlertBuffer(capacity=10)
    assert buffer.add(old) is not None
    assert buffer.add(alert("a", revision=2)) is not None


def test_history_holds_the_latest_revision_of_each_alert():
    buffer = AlertBuffer(capacity=2)
    buffer.add_history([
        alert("a", minutes=1), alert("a", minutes=3, revision=3, headline="a3"),
        alert("a", minutes=2, revision=2), alert("b", minutes=2), alert("c", minutes=0)])
    assert [(a.dispatch_id, a.revision) for a in held_alerts(buffer)] == [("b", 1), ("a", 3)]
    assert buffer.add(alert("a", revision=2)) is None
    assert buffer.add(alert("c")) is None, "read back but not held: still not shown again"


def test_the_dispatch_cache_keeps_the_most_recent():
    cache = DispatchCache(capacity=2)
    for n in range(3):
        cache.add(f"d{n}", f"{n}".encode())
    assert (cache.get("d0"), cache.get("d1"), cache.get("d2")) == (None, b"1", b"2")
