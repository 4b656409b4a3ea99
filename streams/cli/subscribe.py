"""`wirewatch subscribe`: print alerts (or any topic's records) as they arrive."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import struct
import sys
import time
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import click
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from faust.cli import AppCommand, argument, option

from schemas import Alert, SurgeAlert
from streams.cli.common import EXIT_TIMEOUT, fail, settings, stderr, usage_error
from streams.clients.alert_topics import (
    NewAlertTopics,
    add_from_beginning,
    alert_topics_in_force,
    alert_topics_on_broker,
)
from streams.clients.dedup import SeenAlerts
from streams.clients.kafka import (
    BrokerConnectionError,
    StartOffset,
    TopicsNotReady,
    ensure_topics,
    start_consumer,
    start_group_consumer,
)
from streams.clients.watches import read_watch_book
from streams.worker import topics
from streams.worker.app import app
from streams.worker.processing import (
    HEADER_EXCEPTION_MESSAGE,
    HEADER_REASON,
    SPRING_BINARY_HEADERS,
)


def resolve_topic(name: str, alert_topics: dict[str, str]) -> str:
    """A Kafka topic from a name: a wirewatch topic, or the short name of a watch (or
    `surge`) in `alert_topics`."""
    return alert_topics.get(name, name)


def other_topics() -> tuple[str, ...]:
    """The wirewatch topics that are not alert topics, which subscribe also reads."""
    names = topics.names
    return (names.raw, names.dispatches, names.enriched, names.dead_letter)


MAX_WHY = 5
WHERE = {"headline": "in the headline", "lead": "in the lead", "body": "through the body"}
RETRACTED_WHY = {"canceled": "the agency killed the story",
                 "withheld": "the agency withheld the story",
                 "usable": "a later version is no longer about this topic"}


def _distinct_evidence(alert: Alert) -> list[tuple[tuple[str, str], int]]:
    """Positive evidence as (text, rule) with its count, strongest first."""
    counts: dict[tuple[str, str], int] = {}
    for evidence in alert.evidence:
        if evidence.weight > 0:
            key = (evidence.text, evidence.rule)
            counts[key] = counts.get(key, 0) + 1
    return list(counts.items())


def render_alert(alert: Alert) -> str:
    """An alert as a few readable lines."""
    when = alert.published_at.date().isoformat() if alert.published_at else "date unknown"
    where = ", ".join(p for p in (alert.dateline.city, alert.dateline.country) if p) \
        if alert.dateline else ""
    source = " · ".join(p for p in (when, where, alert.agency or "", alert.dispatch_id) if p)
    why = "; ".join(f"«{text}» ({rule}){f' ×{count}' if count > 1 else ''}"
                    for (text, rule), count in _distinct_evidence(alert)[:MAX_WHY])
    who = ", ".join(f"{e.name} ({e.label})" for e in alert.entities)
    urgency = f", urgency {alert.urgency}" if alert.urgency is not None else ""
    if alert.status == "retracted":
        return "\n".join([
            f"[{alert.topic} RETRACTED, revision {alert.revision}{urgency}] {source}",
            f"  {alert.headline or ''}",
            f"  {RETRACTED_WHY.get(alert.pub_status, RETRACTED_WHY['usable'])}"
            f" (version {alert.version})",
        ])
    revised = f", UPDATED revision {alert.revision}" if alert.status == "updated" else ""
    return "\n".join([
        f"[{alert.topic} {alert.score:.2f}, {WHERE[alert.salience]}{urgency}{revised}] "
        f"{source}",
        f"  {alert.headline or ''}",
        f"  why: {why}",
        f"  entities: {who}",
    ])


MAX_SURGE_HEADLINES = 5


def _span(seconds: float) -> str:
    """A window's length in words: "hour", "2 hours", "30 minutes"."""
    hours, rest = divmod(round(seconds), 3600)
    if hours and not rest:
        return "hour" if hours == 1 else f"{hours} hours"
    minutes = round(seconds / 60)
    return "minute" if minutes == 1 else f"{minutes} minutes"


def render_surge(surge: SurgeAlert) -> str:
    """A surge alert as one line, then its top headlines (one a line)."""
    what = surge.name if surge.kind == "watch" else f"{surge.name} ({surge.key})"
    span = _span((surge.window_end - surge.window_start).total_seconds())
    end = surge.window_end.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    stories = "story" if surge.count == 1 else "stories"
    lines = [f"[surge {what}: {surge.count} {stories} in the {span} to {end}, baseline "
             f"{surge.baseline_mean:.1f} ± {surge.baseline_spread:.1f}, "
             f"z {surge.z_score:.1f}]"]
    lines += [f"  · {story.headline or '(no headline)'}"
              for story in surge.top_headlines[:MAX_SURGE_HEADLINES]]
    if len(surge.top_headlines) > MAX_SURGE_HEADLINES:
        lines.append(f"  · and {len(surge.top_headlines) - MAX_SURGE_HEADLINES} more")
    return "\n".join(lines)


def render_record(topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str:
    """A consumed record, readably: alerts and surge alerts in full, other topics in one
    line."""
    if value is None:
        return f"{topic}: (no value)"
    if topic == settings.surge_alert_topic:
        try:
            return render_surge(SurgeAlert.model_validate_json(value))
        except ValueError:
            pass
    elif topic.startswith(settings.alert_topic_prefix):
        try:
            return render_alert(Alert.model_validate_json(value))
        except ValueError:
            pass
    if topic == settings.topic_dead_letter:
        found = {name: raw.decode("utf-8", "replace") for name, raw in headers}
        return (f"{topic}: {found.get(HEADER_REASON, '?')}: "
                f"{found.get(HEADER_EXCEPTION_MESSAGE, '')}")
    try:
        data: Any = json.loads(value)
    except ValueError:
        return f"{topic}: {value[:200]!r}"
    if isinstance(data, dict) and "id" in data:
        labels = ", ".join(f"{t['topic']} {t['score']:.2f}" for t in data.get("topics", []))
        return f"{topic}: {data['id']} [{labels or 'no watched topic'}]"
    return f"{topic}: {value[:200].decode('utf-8', 'replace')}"


# kcat's names for Kafka's timestamp types.
TIMESTAMP_TYPES = {0: "create", 1: "logappend"}


def _text_or_bytes(raw: bytes | None) -> str | dict[str, str] | None:
    """UTF-8 text as a string; other bytes as {"base64": ...}, so that nothing is lost."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}


def _header_value(name: str, raw: bytes) -> int | str | dict[str, str] | None:
    fmt = SPRING_BINARY_HEADERS.get(name)
    if fmt is not None and len(raw) == struct.calcsize(fmt):
        return int(struct.unpack(fmt, raw)[0])  # Spring Kafka's binary numbers
    return _text_or_bytes(raw)


def record_envelope(record: ConsumerRecord) -> dict[str, Any]:
    """A record as one JSON object, with kcat -J's field names: where it is, its key and
    headers decoded, and its value (`payload`) parsed when it is JSON, a string when it is
    text, {"base64": ...} otherwise."""
    payload: Any = _text_or_bytes(record.value)
    if isinstance(payload, str):
        with contextlib.suppress(ValueError):  # not JSON: the text itself
            payload = json.loads(payload)
    headers: list[Any] = []
    for name, raw in record.headers:
        headers += [name, _header_value(name, raw)]
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "tstype": TIMESTAMP_TYPES.get(record.timestamp_type, "unknown"),
        "ts": record.timestamp,
        "headers": headers,
        "key": _text_or_bytes(record.key),
        "payload": payload,
    }


class OffsetParam(click.ParamType):
    """kcat's -o: beginning, end, an absolute offset N or -N (N before the end)."""

    name = "beginning|end|N|-N"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> StartOffset:
        if isinstance(value, int) or value in ("beginning", "end"):
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not beginning, end, N or -N", param, ctx)


def urgent_enough(value: bytes | None, min_urgency: int) -> bool:
    """True for a message with an `urgency` of `min_urgency` or more urgent (a lower number)."""
    try:
        urgency = json.loads(value or b"null").get("urgency")
    except (ValueError, AttributeError):
        return False
    return isinstance(urgency, int) and urgency <= min_urgency


def names_entity(value: bytes | None, wanted: frozenset[str]) -> bool:
    """True for a message that names one of the `wanted` Wikidata ids: among an alert's
    entities (its most salient), or an enriched dispatch's entities and entity summary."""
    try:
        document = json.loads(value or b"null")
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    for field in ("entities", "entity_summary"):
        for entity in document.get(field) or ():
            if isinstance(entity, dict) and entity.get("wikidata_id") in wanted:
                return True
    return False


WIKIDATA_ID = re.compile(r"Q[1-9][0-9]*")


class WikidataIdParam(click.ParamType):
    """A Wikidata item id: Q followed by digits (Q7747)."""

    name = "QID"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value).strip().upper()
        if not WIKIDATA_ID.fullmatch(text):
            self.fail(f"{value!r} is not a Wikidata item id such as Q7747", param, ctx)
        return text


def is_surge(record: ConsumerRecord) -> bool:
    return bool(record.topic == settings.surge_alert_topic)


def surge_of_entity(value: bytes | None, wanted: frozenset[str]) -> bool:
    """True for a surge alert of one of the `wanted` entities (`kind` entity, `key` its id)."""
    try:
        document = json.loads(value or b"null")
    except ValueError:
        return False
    return (isinstance(document, dict) and document.get("kind") == "entity"
            and document.get("key") in wanted)


class Printer:
    """Writes records to stdout in the chosen form, skipping redelivered alerts. A surge
    alert passes --min-urgency (it has no agency urgency: it is about many stories), and
    --entity when it is the surge of one of those entities."""

    def __init__(self, *, as_json: bool, value_only: bool, keep_duplicates: bool,
                 min_urgency: int | None = None,
                 entities: frozenset[str] = frozenset()) -> None:
        self.as_json, self.value_only = as_json, value_only
        self.keep_duplicates = keep_duplicates
        self.min_urgency = min_urgency
        self.entities = entities
        self.seen = SeenAlerts()

    def print(self, record: ConsumerRecord) -> bool:
        """Print `record` unless it is a redelivery or filtered out; True when printed."""
        surge = is_surge(record)
        if self.min_urgency is not None and not surge \
                and not urgent_enough(record.value, self.min_urgency):
            return False
        if self.entities and not (surge_of_entity(record.value, self.entities) if surge
                                  else names_entity(record.value, self.entities)):
            return False
        if not self.keep_duplicates and self.seen.is_duplicate(record.value):
            return False
        if self.value_only:
            line = (record.value or b"null").decode("utf-8", "replace") + "\n"
        elif self.as_json:
            line = json.dumps(record_envelope(record), ensure_ascii=False) + "\n"
        else:
            line = render_record(record.topic, record.value, list(record.headers)) + "\n\n"
        sys.stdout.write(line)
        sys.stdout.flush()
        return True


async def _at_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """True when every assigned partition is read up to its end (as it was when first seen)."""
    assigned = consumer.assignment()
    if not assigned:
        return False
    missing = [tp for tp in assigned if tp not in ends]
    if missing:
        ends.update(await consumer.end_offsets(missing))
    return all([await consumer.position(tp) >= ends[tp] for tp in assigned])


class _NewTopicsFromBeginning(ConsumerRebalanceListener):
    """In a consumer group: the partitions of topics created after it started, where the
    group has committed nothing, are read from their beginning (all they hold is new),
    not from the end, which would miss what was published before they were found."""

    def __init__(self, consumer: AIOKafkaConsumer, new: set[str]) -> None:
        self.consumer, self.new = consumer, new

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass  # what was printed is committed after each batch

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        fresh = [tp for tp in assigned
                 if tp.topic in self.new and await self.consumer.committed(tp) is None]
        if fresh:
            await self.consumer.seek_to_beginning(*fresh)


async def _follow_new_topics(consumer: AIOKafkaConsumer, discovery: NewAlertTopics,
                             group: str | None, new: set[str]) -> None:
    """Read the alert topics created since the last look (a watch added), from their
    beginning; `new` collects the topics found since the start."""
    found = await discovery.poll(consumer)
    if not found:
        return
    new.update(found)
    if group is None:
        await add_from_beginning(consumer, found)
        discovery.known.update(found)
    else:
        discovery.known.update(found)
        consumer.subscribe(topics=sorted(discovery.known),
                           listener=_NewTopicsFromBeginning(consumer, new))
    stderr.print(f"also listening on {', '.join(found)} (created meanwhile)")


@app.command(
    argument("names", nargs=-1, type=str),
    option("--offset", "-o", "offset", type=OffsetParam(), default=None,
           help="Where to start in each partition, as kcat -o: beginning, end (default), N "
                "(that offset) or -N (N messages before the end). With --group: where to "
                "start when the group has no committed offset (beginning or end). An alert "
                "topic created while it runs is read from its beginning."),
    option("--from-beginning", is_flag=True, default=False,
           help="Same as --offset beginning."),
    option("--group", "-G", "group", type=str, default=None,
           help="Consume as this Kafka consumer group: commit what was printed, and resume "
                "there next time (several subscribers of one group share the partitions)."),
    option("--exit-at-end", "-e", is_flag=True, default=False,
           help="Exit once every partition is read to the end it had when reached (kcat "
                "-e), instead of waiting for new messages."),
    option("--json", "as_json", is_flag=True, default=False,
           help="Print each message as one JSON line, as kcat -J: topic, partition, offset, "
                "timestamp (ts, tstype), key, headers, and the value as `payload` (parsed "
                "when it is JSON)."),
    option("--value-only", is_flag=True, default=False,
           help="Print each message's bare value, one per line."),
    option("--max", "max_messages", type=click.IntRange(min=1), default=None,
           help="Exit after this many messages."),
    option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
           help="Exit after this many seconds (status 3 if --max was not reached)."),
    option("--keep-duplicates", is_flag=True, default=False,
           help="Also print alerts redelivered with an alert_id and revision already "
                "printed, and older revisions arriving after newer ones."),
    option("--min-urgency", type=click.IntRange(1, 9), default=None,
           help="Only alerts at least this urgent: the agency's urgency N or lower (1 = "
                "flash). Alerts without an urgency (plain JSON dispatches) are left out; "
                "surge alerts (about many stories, with no urgency) are kept."),
    option("--entity", "entities", type=WikidataIdParam(), multiple=True,
           help="Only messages naming this entity, by Wikidata id (repeat for any of "
                "several: --entity Q7747 --entity Q159): an alert's entities (its most "
                "salient), or an enriched dispatch's; a surge alert when it is the surge of "
                "that entity (not a watch's surge)."),
)
async def subscribe(self: AppCommand, names: tuple[str, ...], offset: StartOffset | None,
                    from_beginning: bool, group: str | None, exit_at_end: bool,
                    as_json: bool, value_only: bool, max_messages: int | None,
                    timeout: float | None, keep_duplicates: bool,
                    min_urgency: int | None, entities: tuple[str, ...]) -> None:
    """Print messages of alert topics (default: all of them) as they arrive.

    NAMES are Kafka topics or the names of watches on the watches topic: `withdrawal` means
    `alerts.withdrawal`, and `surge` the surge alerts (`alerts.surge`). Without NAMES: every
    alert topic, those of the watches in force, the surge alerts', and those of watches
    added while it runs (found within a few seconds, read from their beginning).

    An alert follows its story: a later version of the story prints the same alert again as
    UPDATED (new headline, score, evidence) or RETRACTED (the story left the topic, or the
    agency killed it), with its revision number. Alert topics are compacted: read from the
    beginning, they give the latest revision of every alert. A surge alert (a watch, or an
    entity, in many more stories than usual) prints as one line with its top headlines.

    Delivery is at least once: an alert whose revision (or a later one) was already
    printed is a redelivery or stale and is skipped (the last 100,000 alert ids are
    remembered), unless --keep-duplicates.

    \b
    Examples:
      wirewatch subscribe                          new alerts, readably
      wirewatch subscribe withdrawal -o -10 -e     the last 10 per partition, then exit
      wirewatch subscribe surge                    surges only
      wirewatch subscribe --group desk-1           resume where desk-1 stopped
      wirewatch subscribe --entity Q7747 -o beginning -e     alerts naming Vladimir Putin
      wirewatch subscribe dispatches.dlq --json -o beginning -e | jq .headers
    """
    if from_beginning and offset is not None and offset != "beginning":
        raise usage_error("subscribe", "--from-beginning and --offset exclude each other")
    if as_json and value_only:
        raise usage_error("subscribe", "--json and --value-only exclude each other")
    start: StartOffset = "beginning" if from_beginning else (offset if offset is not None
                                                               else "end")
    if group is not None and isinstance(start, int):
        raise usage_error("subscribe", "with --group, --offset is beginning or end: where to "
                          "start when the group has no committed offset (it resumes where "
                          "it stopped)")
    try:
        alert_topics = alert_topics_in_force(settings, await read_watch_book(settings))
    except (BrokerConnectionError, TopicsNotReady, TimeoutError) as exc:
        raise fail(str(exc)) from None
    known = (*alert_topics.values(), *other_topics())
    wanted = [resolve_topic(name, alert_topics) for name in names] \
        or list(alert_topics.values())
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise usage_error("subscribe", f"not a wirewatch topic: {', '.join(unknown)}. "
                          f"Known: {', '.join([*alert_topics, *other_topics()])}")
    try:
        await ensure_topics(settings, wanted)
        if not names:  # and those of watches removed: their alerts are still retracted
            wanted = sorted({*wanted, *await alert_topics_on_broker(settings)})
        if group is None:
            consumer = await start_consumer(settings, wanted, offset=start)
        else:
            consumer = await start_group_consumer(
                settings, wanted, group, reset="beginning" if start == "beginning" else "end")
    except (BrokerConnectionError, TopicsNotReady) as exc:
        raise fail(str(exc)) from None
    # Without NAMES, the alert topics created while it runs are followed too.
    discovery = NewAlertTopics(settings, wanted) if not names else None
    found: set[str] = set()
    where = {"beginning": " from the beginning", "end": ""}.get(str(start), f" from {start}")
    stderr.print(f"listening on {', '.join(wanted)}"
                 f"{f' as group {group}' if group else where} (Ctrl-C to stop)")
    printer = Printer(as_json=as_json, value_only=value_only, keep_duplicates=keep_duplicates,
                      min_urgency=min_urgency, entities=frozenset(entities))
    received = 0
    deadline = time.monotonic() + timeout if timeout else None
    ends: dict[TopicPartition, int] = {}
    handled: dict[TopicPartition, int] = {}  # next offset to commit, per partition
    try:
        while max_messages is None or received < max_messages:
            if discovery is not None:
                await _follow_new_topics(consumer, discovery, group, found)
            if exit_at_end and await _at_end(consumer, ends):
                return
            wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if wait <= 0:
                break
            batches = await consumer.getmany(timeout_ms=int(wait * 1000))
            for partition, records in batches.items():
                for record in records:
                    handled[partition] = record.offset + 1
                    if printer.print(record):
                        received += 1
                    if max_messages is not None and received >= max_messages:
                        return
            if group is not None and handled:
                await consumer.commit(handled)
                handled = {}
    finally:
        if group is not None and handled:
            await consumer.commit(handled)  # what was printed is not printed again
        await consumer.stop()
    if max_messages is not None and received < max_messages:
        stderr.print(f"timed out after {timeout}s with {received} of {max_messages} messages")
        raise SystemExit(EXIT_TIMEOUT)
