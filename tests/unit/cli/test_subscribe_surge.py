"""subscribe and surge alerts, without Kafka: one readable line and the top headlines,
redeliveries skipped, and what --entity and --min-urgency do with them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from aiokafka.structs import ConsumerRecord

from schemas import SurgeAlert, SurgeHeadline, surge_alert_id
from streams.cli.common import settings
from streams.cli.subscribe import Printer, render_record, render_surge
from streams.clients.dedup import SeenAlerts

END = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)


def surge(kind: str = "watch", key: str = "withdrawal", name: str = "withdrawal",
          headlines: int = 3, window: timedelta = timedelta(hours=1)) -> SurgeAlert:
    return SurgeAlert(
        alert_id=surge_alert_id(key, END), kind=kind, key=key, name=name, count=23,
        baseline_mean=9.84, baseline_spread=3.07, z_score=4.21,
        window_start=END - window, window_end=END, alerted_at=END,
        top_headlines=[SurgeHeadline(story_id=f"s{n}", dispatch_id=f"d{n}",
                                     headline=f"Headline {n}", score=0.9,
                                     published_at=END - timedelta(minutes=n))
                       for n in range(1, headlines + 1)])


def record(value: bytes, topic: str | None = None) -> ConsumerRecord:
    return ConsumerRecord(topic or settings.surge_alert_topic, 0, 0, 0, 0, None, value,
                          None, 0, len(value), ())


def test_a_surge_of_a_watch_prints_one_line_then_its_top_headlines():
    assert render_surge(surge()).splitlines() == [
        "[surge withdrawal: 23 stories in the hour to 2026-03-02 14:05 UTC, "
        "baseline 9.8 ± 3.1, z 4.2]",
        "  · Headline 1", "  · Headline 2", "  · Headline 3"]


def test_a_surge_of_an_entity_names_it_with_its_id_and_long_lists_are_cut():
    text = render_surge(surge("entity", "Q7747", "Vladimir Putin", headlines=8,
                              window=timedelta(minutes=30)))
    lines = text.splitlines()
    assert lines[0].startswith("[surge Vladimir Putin (Q7747): 23 stories in the 30 minutes to")
    assert lines[1:] == [*(f"  · Headline {n}" for n in range(1, 6)), "  · and 3 more"]


def test_render_record_recognises_the_surge_topic_and_falls_back_on_bad_json():
    value = surge().model_dump_json().encode()
    assert render_record(settings.surge_alert_topic, value, []).startswith("[surge withdrawal:")
    assert render_record(settings.surge_alert_topic, b'{"x": 1}', []) == (
        f'{settings.surge_alert_topic}: {{"x": 1}}')


def test_a_redelivered_surge_is_a_duplicate_and_another_surge_is_not():
    seen = SeenAlerts()
    first = surge().model_dump_json().encode()
    assert not seen.is_duplicate(first)
    assert seen.is_duplicate(first), "no revision: revision 1, and the same again"
    assert not seen.is_duplicate(surge(key="iran-deal", name="iran-deal")
                                 .model_dump_json().encode())


def test_surges_pass_min_urgency_and_the_entity_filter_keeps_that_entitys(capsys):
    watch = record(surge().model_dump_json().encode())
    putin = record(surge("entity", "Q7747", "Vladimir Putin").model_dump_json().encode())
    urgent = Printer(as_json=False, value_only=True, keep_duplicates=True, min_urgency=1)
    assert urgent.print(watch) and urgent.print(putin)
    by_entity = Printer(as_json=False, value_only=True, keep_duplicates=True,
                        entities=frozenset({"Q7747"}))
    assert by_entity.print(putin)
    assert not by_entity.print(watch)
    other = Printer(as_json=False, value_only=True, keep_duplicates=True,
                    entities=frozenset({"Q159"}))
    assert not other.print(putin)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["key"] for p in printed] == ["withdrawal", "Q7747", "Q7747"]
