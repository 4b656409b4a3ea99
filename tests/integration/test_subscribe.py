"""`wirewatch subscribe` as a kcat user expects it: a JSON envelope per record, consumer
groups that resume, kcat's offsets, and exit at the end."""

from __future__ import annotations

import asyncio
import json
import struct
import subprocess

import pytest

from streams.clients.kafka import ensure_topics, start_producer
from tests.helpers.deployment import Deployment

Record = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


def produce_to(deployment: Deployment, topic: str, records: list[Record],
               partition: int = 0) -> list[int]:
    """Produce records with headers to one partition of `topic`; their offsets."""

    async def _produce() -> list[int]:
        await ensure_topics(deployment.settings, [topic])
        producer = await start_producer(deployment.settings)
        try:
            sent = [await producer.send(topic, value, key=key, headers=headers,
                                        partition=partition)
                    for key, value, headers in records]
            return [metadata.offset for metadata in await asyncio.gather(*sent)]
        finally:
            await producer.stop()

    return asyncio.run(_produce())


def subscribe(deployment: Deployment, *args: str) -> list[dict]:
    result = deployment.run("subscribe", *args, "--json", timeout=90)
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


@pytest.fixture(scope="module")
def dead_letters(deployment: Deployment) -> tuple[str, list[int]]:
    """Three records on the dead-letter topic: JSON, text and binary values, with text and
    Spring-style binary headers."""
    topic = deployment.settings.topic_dead_letter
    offsets = produce_to(deployment, topic, [
        (b"k-json", b'{"id": "a", "body": 1}',
         [("__connect.errors.exception.message", b"body: not a string"),
          ("kafka_dlt-original-offset", struct.pack(">q", 2**33)),
          ("kafka_dlt-original-partition", struct.pack(">i", 4))]),
        (b"k-text", "{pas du JSON, é".encode(), [("wirewatch.errors.reason", b"invalid_json")]),
        (None, b"\xff\xfe\x00binary", []),
    ])
    return topic, offsets


def test_json_prints_an_envelope_with_kcats_fields_and_decoded_headers(deployment,
                                                                       dead_letters):
    topic, offsets = dead_letters
    envelopes = subscribe(deployment, topic, "--offset", "beginning", "--exit-at-end")
    assert [e["offset"] for e in envelopes] == offsets
    first, text, binary = envelopes
    assert (first["topic"], first["partition"], first["key"]) == (topic, 0, "k-json")
    assert first["payload"] == {"id": "a", "body": 1}, "a JSON value is parsed"
    assert first["headers"] == ["__connect.errors.exception.message", "body: not a string",
                                "kafka_dlt-original-offset", 2**33,
                                "kafka_dlt-original-partition", 4]
    assert text["payload"] == "{pas du JSON, é", "text that is not JSON stays a string"
    assert binary["key"] is None
    assert binary["payload"] == {"base64": "//4AYmluYXJ5"}, "bytes are not lost"

    # The same records through kcat -J: the fields they share agree.
    kcat = subprocess.run(
        ["kcat", "-C", "-J", "-e", "-q", "-b", deployment.settings.bootstrap_servers,
         "-t", topic, "-p", "0", "-o", "beginning"],
        capture_output=True, timeout=60, check=True)
    # (kcat writes a binary payload raw, which is not valid JSON text: read it leniently)
    theirs = [json.loads(line) for line in kcat.stdout.decode("utf-8", "replace").splitlines()]
    for ours, its in zip(envelopes, theirs, strict=True):
        for field in ("topic", "partition", "offset", "ts", "tstype", "key"):
            assert ours[field] == its[field], field
    assert json.loads(theirs[0]["payload"]) == first["payload"]
    assert theirs[1]["payload"] == text["payload"]


def test_value_only_prints_the_bare_values(deployment, dead_letters):
    topic, _ = dead_letters
    result = deployment.run("subscribe", topic, "-o", "beginning", "-e", "--value-only")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().splitlines()[:2] == ['{"id": "a", "body": 1}',
                                                       "{pas du JSON, é"]


def test_offsets_mean_what_they_mean_in_kcat(deployment, dead_letters):
    topic, offsets = dead_letters
    assert [e["offset"] for e in subscribe(deployment, topic, "-o", "-1", "-e")] == offsets[-1:]
    assert [e["offset"] for e in subscribe(deployment, topic, "-o", str(offsets[1]), "-e")
            ] == offsets[1:]
    assert subscribe(deployment, topic, "-o", "end", "-e") == [], "at the end: nothing, exit"


def test_a_consumer_group_resumes_where_it_stopped(deployment):
    topic = deployment.settings.topic_enriched
    offsets = produce_to(deployment, topic, [(f"g-{n}".encode(), b"{}", []) for n in range(5)],
                         partition=1)
    group = f"{deployment.settings.app_id}-desk"
    first = subscribe(deployment, topic, "--group", group, "-o", "beginning", "--max", "2")
    rest = subscribe(deployment, topic, "--group", group, "--exit-at-end")
    assert [e["offset"] for e in first + rest] == offsets, "each once, in order, none lost"
    assert subscribe(deployment, topic, "--group", group, "-e") == [], "all committed"


@pytest.mark.parametrize(("args", "says"), [
    (("--group", "g", "-o", "-3"), "with --group, --offset is beginning or end"),
    (("--json", "--value-only"), "exclude each other"),
    (("-o", "soon"), "'soon' is not beginning, end, N or -N"),
    (("no-such-topic",), "not a wirewatch topic: no-such-topic"),
])
def test_usage_errors_exit_2_and_say_why(deployment, args, says):
    result = deployment.run("subscribe", *args)
    assert result.returncode == 2
    assert says in result.stderr.decode()


def test_min_urgency_keeps_the_alerts_at_least_that_urgent(deployment):
    from datetime import UTC, datetime

    from schemas import Alert

    topic = deployment.settings.alert_topic("withdrawal")
    records = []
    for urgency in (1, 3, 5, None):
        alert = Alert(alert_id=f"urgency-{urgency}", topic="withdrawal", score=0.9,
                      evidence=[], dispatch_id=f"u-{urgency}", headline="h", entities=[],
                      urgency=urgency, alerted_at=datetime(2021, 8, 15, tzinfo=UTC))
        records.append((alert.dispatch_id.encode(), alert.model_dump_json().encode(), []))
    produce_to(deployment, topic, records)
    printed = subscribe(deployment, "withdrawal", "-o", "beginning", "-e",
                        "--min-urgency", "3")
    assert [e["payload"]["urgency"] for e in printed] == [1, 3]
    readable = deployment.run("subscribe", "withdrawal", "-o", "beginning", "-e",
                              "--min-urgency", "1")
    assert "urgency 1]" in readable.stdout.decode()
    assert "urgency 3" not in readable.stdout.decode()
