"""`wirewatch subscribe`: print alerts (or any topic's records) as they arrive."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from faust.cli import AppCommand, argument, option

from schemas import Alert
from streams.cli.common import EXIT_TIMEOUT, fail, settings, stderr
from streams.clients.dedup import SeenAlerts
from streams.clients.kafka import (
    BrokerConnectionError,
    ensure_topics,
    start_consumer,
)
from streams.worker import topics
from streams.worker.app import app
from streams.worker.processing import (
    HEADER_EXCEPTION_MESSAGE,
    HEADER_REASON,
)


def resolve_topic(name: str) -> str:
    """A Kafka topic from a name: a wirewatch topic, or a watched topic's short name."""
    if name in topics.names.alerts:
        return topics.names.alerts[name]
    return name


MAX_WHY = 5
WHERE = {"headline": "in the headline", "lead": "in the lead", "body": "through the body"}


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
    return "\n".join([
        f"[{alert.topic} {alert.score:.2f}, {WHERE[alert.salience]}] {source}",
        f"  {alert.headline or ''}",
        f"  why: {why}",
        f"  entities: {who}",
    ])


def render_record(topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str:
    """A consumed record, readably: alerts in full, other topics in one line."""
    if value is None:
        return f"{topic}: (no value)"
    if topic.startswith(settings.alert_topic_prefix):
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


@app.command(
    argument("names", nargs=-1, type=str),
    option("--from-beginning", is_flag=True, default=False,
           help="Start from the oldest message kept, not from new ones."),
    option("--json", "as_json", is_flag=True, default=False,
           help="Print each message value as one JSON line."),
    option("--max", "max_messages", type=int, default=None,
           help="Exit after this many messages."),
    option("--timeout", type=float, default=None,
           help="Exit after this many seconds (status 3 if --max was not reached)."),
    option("--keep-duplicates", is_flag=True, default=False,
           help="Also print alerts redelivered with an alert_id already printed."),
)
async def subscribe(self: AppCommand, names: tuple[str, ...], from_beginning: bool,
                    as_json: bool, max_messages: int | None, timeout: float | None,
                    keep_duplicates: bool) -> None:
    """Print messages of alert topics (default: all of them) as they arrive.

    NAMES are Kafka topics or watched-topic names: `withdrawal` means `alerts.withdrawal`.
    Delivery is at least once: an alert whose alert_id was already printed is a redelivery
    and is skipped (the last 100,000 ids are remembered), unless --keep-duplicates.
    """
    wanted = [resolve_topic(name) for name in names] or list(topics.names.alerts.values())
    unknown = [name for name in wanted if name not in topics.names.all()]
    if unknown:
        raise fail(f"not a wirewatch topic: {', '.join(unknown)}. Known: "
                   f"{', '.join(topics.names.all())}")
    try:
        await ensure_topics(settings, wanted)
        consumer = await start_consumer(settings, wanted, from_beginning=from_beginning)
    except BrokerConnectionError as exc:
        raise fail(str(exc)) from None
    stderr.print(f"listening on {', '.join(wanted)}"
                 f"{' from the beginning' if from_beginning else ''} (Ctrl-C to stop)")
    received = 0
    seen = SeenAlerts()
    deadline = time.monotonic() + timeout if timeout else None
    out = sys.stdout
    try:
        while max_messages is None or received < max_messages:
            wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if wait <= 0:
                break
            batches = await consumer.getmany(timeout_ms=int(wait * 1000))
            for records in batches.values():
                for record in records:
                    if not keep_duplicates and seen.is_duplicate(record.value):
                        continue
                    if as_json:
                        out.write((record.value or b"null").decode("utf-8", "replace") + "\n")
                    else:
                        out.write(render_record(record.topic, record.value,
                                                list(record.headers)) + "\n\n")
                    out.flush()
                    received += 1
                    if max_messages is not None and received >= max_messages:
                        return
    finally:
        await consumer.stop()
    if max_messages is not None and received < max_messages:
        stderr.print(f"timed out after {timeout}s with {received} of {max_messages} messages")
        raise SystemExit(EXIT_TIMEOUT)
