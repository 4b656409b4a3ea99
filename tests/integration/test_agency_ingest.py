"""Agency documents in, on the real broker with a real worker: every real sample ingested or
dead-lettered with its reason, hostile documents dead-lettered without stopping the stream,
and a language without a pipeline published unanalysed."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from aiokafka import AIOKafkaProducer

from schemas import Dispatch, EnrichedDispatch
from streams.clients.kafka import connection_options, ensure_topics, read_records
from streams.feeds.agency import AgencyDocumentError, parse_agency_document
from streams.worker.processing import HEADER_FORMAT, HEADER_REASON
from tests.helpers import SHARED
from tests.helpers.dead_letters import text_headers
from tests.helpers.deployment import Deployment

T = TypeVar("T")
SAMPLES = SHARED / "samples" / "agency-formats"
SAMPLE_FILES = sorted(p for p in SAMPLES.rglob("*") if p.suffix in (".xml", ".json"))


def expected_outcomes() -> tuple[dict[str, list[Dispatch]], dict[str, str]]:
    """What the parser makes of each sample (its unit tests check that against what the
    documents say): the dispatches of each file, or its dead-letter reason."""
    dispatched, dead = {}, {}
    for path in SAMPLE_FILES:
        try:
            dispatched[path.name] = parse_agency_document(path.read_bytes())[0]
        except AgencyDocumentError as exc:
            dead[path.name] = exc.reason
    return dispatched, dead


def test_every_sample_document_is_ingested_or_dead_lettered_with_its_reason(
        deployment: Deployment, worker):
    assert len(SAMPLE_FILES) >= 30, f"the samples are at {SAMPLES}"
    dispatched, dead = expected_outcomes()
    folders = sorted({str(p.parent) for p in SAMPLE_FILES})
    result = deployment.run("replay", *folders)
    assert result.returncode == 0, result.stderr.decode()
    assert f"{len(SAMPLE_FILES)} agency document(s)" in result.stderr.decode()

    settings = deployment.settings
    wanted = [d for dispatches in dispatched.values() for d in dispatches]
    enriched = [EnrichedDispatch.model_validate_json(r.value) for r in asyncio.run(
        read_records(settings, [settings.topic_enriched], until=len(wanted), timeout=120,
                     settle=2))]

    def fields(d: Dispatch) -> tuple:
        return (d.id, d.story_id, d.version, d.urgency, d.pub_status, d.signal, d.language,
                d.headline, d.body)

    # (dpa sends one story as NewsML-G2 and as its own JSON: same id, two renderings.)
    got, expected = Counter(map(fields, enriched)), Counter(map(fields, wanted))
    assert got == expected, ("each item, once", [f[:3] for f in got - expected],
                             [f[:3] for f in expected - got])
    for out in enriched:
        if out.language != "fr":
            assert out.analysis == "unsupported_language" and not out.entities, out.id
    inputs = asyncio.run(read_records(settings, [settings.topic_dispatches]))
    assert {r.key for r in inputs} == {(d.story_id or d.id).encode() for d in wanted}, \
        "keyed by story"

    letters = asyncio.run(read_records(settings, [settings.topic_dead_letter],
                                       until=len(dead), timeout=60, settle=2))
    reasons = {r.key.decode(): text_headers(r.headers)[HEADER_REASON] for r in letters}
    assert reasons == dead

    # Languages without a pipeline are counted, for the desk that wonders why no alert.
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics",
                                timeout=10) as response:
        page = response.read().decode()
    for language in {d.language for d in wanted} - {"fr"}:
        assert f'wirewatch_dispatches_not_analysed_total{{language="{language}"}}' in page


def wait_for(read: Callable[[], list[T]], count: int, timeout: float = 60) -> list[T]:
    """What `read` returns once it holds `count` items (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


HOSTILE = {
    "xxe": b'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/">&x;</newsItem>',
    "billion-laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol">'
                      + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">'
                                 % ((98 + n,) + (97 + n,) * 10) for n in range(9))
                      + b']><newsItem>&j;</newsItem>',
    "50-megabytes": b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/"><p>'
                    + b"lorem ipsum " * 4_400_000 + b"</p></newsItem>",
    "wrong-encoding": '<?xml version="1.0" encoding="UTF-16"?><newsItem xmlns="http://'
                      'iptc.org/std/nar/2006-10-01/"><headline>Été</headline></newsItem>'
                      .encode(),
    "deep-nesting": b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/">'
                    + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</newsItem>",
}
HOSTILE_REASONS = {"xxe": "unsafe_document", "billion-laughs": "unsafe_document",
                   "50-megabytes": "too_large", "wrong-encoding": "invalid_document",
                   "deep-nesting": "invalid_document"}


def test_hostile_documents_are_dead_lettered_and_the_next_good_one_is_processed(
        deployment: Deployment, worker):
    settings = deployment.settings
    good = SAMPLES / "newsml-g2" / "dpa_eil.xml"
    [good_dispatch], _ = parse_agency_document(good.read_bytes())
    run = uuid.uuid4().hex[:6]

    async def produce() -> None:
        await ensure_topics(settings, [settings.topic_raw])
        # Compressed, as a 50 MB document can travel (Kafka limits the compressed size).
        producer = AIOKafkaProducer(**connection_options(settings), compression_type="gzip",
                                    max_request_size=64 * 1024 * 1024, acks="all")
        await producer.start()
        try:
            for name, document in HOSTILE.items():
                await producer.send_and_wait(settings.topic_raw, document,
                                             key=f"{run}-{name}".encode(),
                                             headers=[(HEADER_FORMAT, b"newsml-g2")])
            await producer.send_and_wait(settings.topic_raw, good.read_bytes(),
                                         key=f"{run}-good".encode())
        finally:
            await producer.stop()

    asyncio.run(produce())
    letters = wait_for(lambda: [r for r in asyncio.run(read_records(
        settings, [settings.topic_dead_letter])) if r.key and r.key.startswith(run.encode())],
        len(HOSTILE))
    reasons = {r.key.decode().removeprefix(f"{run}-"): text_headers(r.headers)[HEADER_REASON]
               for r in letters}
    assert reasons == HOSTILE_REASONS
    [big] = [r for r in letters if r.key.endswith(b"50-megabytes")]
    headers = text_headers(big.headers)
    assert headers["wirewatch.errors.value-truncated"] == "true"
    assert int(headers["wirewatch.errors.original-size"]) == len(HOSTILE["50-megabytes"])
    assert big.value == HOSTILE["50-megabytes"][:len(big.value)]
    assert wait_for(lambda: [r for r in asyncio.run(read_records(
        settings, [settings.topic_enriched]))
        if EnrichedDispatch.model_validate_json(r.value).id == good_dispatch.id], 1)
    assert worker.process.poll() is None, "the worker keeps going"
