"""Subscribers' side of at-least-once delivery: a redelivered alert is recognised."""

from __future__ import annotations

import json

from streams.clients.dedup import SeenAlerts


def alert(alert_id: str, revision: int | None = None) -> bytes:
    fields = {"alert_id": alert_id, "topic": "withdrawal"}
    if revision is not None:
        fields["revision"] = revision
    return json.dumps(fields).encode()


def test_a_redelivered_alert_is_a_duplicate_and_a_new_one_is_not():
    seen = SeenAlerts()
    assert not seen.is_duplicate(alert("a"))
    assert not seen.is_duplicate(alert("b"))
    assert seen.is_duplicate(alert("a"))


def test_a_later_revision_is_news_and_an_older_one_arriving_late_is_stale():
    seen = SeenAlerts()
    assert not seen.is_duplicate(alert("a", 1))
    assert seen.is_duplicate(alert("a"))  # no revision: revision 1
    assert not seen.is_duplicate(alert("a", 3))
    assert seen.is_duplicate(alert("a", 3))
    assert seen.is_duplicate(alert("a", 2)), "older than the one printed"
    assert not seen.is_duplicate(alert("a", 4))


def test_messages_without_an_alert_id_are_never_dropped():
    seen = SeenAlerts()
    for value in (None, b"", b"{not json", b"[1, 2]", b'{"alert_id": 7}', b'{"id": "x"}'):
        assert not seen.is_duplicate(value)
        assert not seen.is_duplicate(value)


def test_only_the_most_recent_ids_are_remembered():
    seen = SeenAlerts(capacity=2)
    for alert_id in ("a", "b", "c"):
        seen.is_duplicate(alert(alert_id))
    assert not seen.is_duplicate(alert("a")), "the oldest id was forgotten"
    assert seen.is_duplicate(alert("c"))
