"""The worker's batch step, without Kafka: each message gets its outputs or a dead letter;
and the agent's guard that a batch begun is published in full."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from schemas import Dispatch, EnrichedDispatch
from streams.nlp.enrich import Enricher
from streams.nlp.rules import watched_topics
from streams.worker import agents
from streams.worker.processing import (
    HEADER_EXCEPTION_CLASS,
    HEADER_REASON,
    ConsumedMessage,
    OutputTopics,
    SourcePosition,
    outcomes_for_messages,
)

OUTPUTS = OutputTopics(enriched="out.enriched", dead_letter="out.dlq",
                       alerts={t: f"out.{t}" for t in watched_topics()}, top_entities_in_alert=5)


class ExplodingEnricher:
    """Enriches like the real one, but the NLP step raises on one dispatch."""

    def __init__(self, real: Enricher) -> None:
        self.real = real

    def enrich_many(self, batch: list[tuple[Dispatch, datetime]], observe=None
                    ) -> list[EnrichedDispatch]:
        if any("BOOM" in dispatch.body for dispatch, _ in batch):
            raise RuntimeError("the model fell over")
        return self.real.enrich_many(batch, observe)

    def enrich(self, dispatch: Dispatch, received_at: datetime) -> EnrichedDispatch:
        return self.enrich_many([(dispatch, received_at)])[0]


def message(offset: int, value: bytes) -> ConsumedMessage:
    return ConsumedMessage(f"k{offset}".encode(), value,
                           SourcePosition("dispatches", 0, offset, 1_700_000_000_000))


def dispatch_json(dispatch_id: str, body: str) -> bytes:
    return json.dumps({"id": dispatch_id, "language": "fr", "body": body}).encode()


def test_one_dispatch_the_nlp_cannot_take_is_dead_lettered_and_the_rest_go_on(enricher):
    messages = [
        message(0, dispatch_json("a", "Les derniers soldats américains ont quitté Kaboul.")),
        message(1, b"{not json"),
        message(2, dispatch_json("b", "BOOM")),
        message(3, dispatch_json("c", "Le festival de Cannes s'ouvre mardi.")),
    ]
    stages: list[str] = []
    outcomes = outcomes_for_messages(messages, ExplodingEnricher(enricher), OUTPUTS,
                                     observe=lambda stage, _seconds: stages.append(stage))
    assert [o.dead_letter_reason for o in outcomes] == [
        None, "invalid_json", "processing_error", None]
    headers = dict(outcomes[2].records[0].headers)
    assert headers[HEADER_REASON] == b"processing_error"
    assert headers[HEADER_EXCEPTION_CLASS] == b"RuntimeError"
    assert outcomes[2].records[0].value == dispatch_json("b", "BOOM")  # original bytes kept
    assert {r.key for r in outcomes[0].records} == {b"a"}
    assert outcomes[3].records[0].kafka_topic == "out.enriched"
    assert [r.kafka_topic for r in outcomes[0].records] == ["out.enriched"]
    assert outcomes[0].enriched is not None  # its alerts come from its story's state
    assert [m.topic for m in outcomes[0].enriched.topics] == ["withdrawal"]
    assert outcomes[1].records[0].kafka_topic == "out.dlq"
    assert stages.count("validate") == 4


def test_a_batch_is_enriched_in_order(enricher):
    messages = [message(n, dispatch_json(f"d{n}", f"Texte numéro {n}.")) for n in range(5)]
    outcomes = outcomes_for_messages(messages, enricher, OUTPUTS)
    assert [o.records[0].key for o in outcomes] == [f"d{n}".encode() for n in range(5)]


def test_a_batch_begun_is_finished_when_the_worker_stops_meanwhile():
    # Faust cancels the agent when a worker stops; the batch in hand must still be published
    # in full before the cancellation goes on, or its acked events would lose outputs.
    published: list[int] = []

    async def publish_batch() -> None:
        for number in range(5):
            await asyncio.sleep(0.01)
            published.append(number)

    async def scenario() -> bool:
        agent = asyncio.ensure_future(agents.finish_despite_cancellation(publish_batch()))
        await asyncio.sleep(0.015)
        agent.cancel()
        await asyncio.sleep(0.001)
        agent.cancel()  # a second cancellation while finishing changes nothing
        try:
            await agent
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(scenario()), "the cancellation is passed on once the batch is done"
    assert published == [0, 1, 2, 3, 4]


def test_a_batch_that_fails_passes_its_error_on():
    async def failing() -> None:
        raise ValueError("broken batch")

    with pytest.raises(ValueError, match="broken batch"):
        asyncio.run(agents.finish_despite_cancellation(failing()))


def test_a_story_version_keyed_otherwise_goes_back_to_the_input_keyed_by_its_story(enricher):
    """Versions of a story must meet on one partition, where its state is: a producer that
    keyed one by something else (its dispatch id, or nothing) has it re-keyed, untouched."""
    outputs = OutputTopics(enriched="out.enriched", dead_letter="out.dlq", alerts=OUTPUTS.alerts,
                           top_entities_in_alert=5, rekey_to="in.dispatches")
    versioned = json.dumps({"id": "S:2", "story_id": "S", "version": 2, "language": "fr",
                            "body": "Les derniers soldats ont quitté Kaboul."}).encode()
    position = SourcePosition("dispatches", 1, 7, 1_700_000_000_000)
    wrong = ConsumedMessage(b"S:2", versioned, position, (("trace", b"x"),))
    unkeyed = ConsumedMessage(None, versioned, position)
    right = ConsumedMessage(b"S", versioned, position)
    plain = ConsumedMessage(None, dispatch_json("p", "Un texte sans histoire."), position)
    outcomes = outcomes_for_messages([wrong, unkeyed, right, plain], enricher, outputs)
    for outcome in outcomes[:2]:
        assert outcome.rekeyed and outcome.enriched is None
        [record] = outcome.records
        assert (record.kafka_topic, record.key, record.value) == ("in.dispatches", b"S",
                                                                  versioned)
    assert outcomes[0].records[0].headers == (("trace", b"x"),)
    assert [o.rekeyed for o in outcomes[2:]] == [False, False]
    assert [o.enriched.id for o in outcomes[2:] if o.enriched] == ["S:2", "p"]
    # Without a topic to send it back to (tests, benchmarks), it is processed where it is.
    [kept] = outcomes_for_messages([wrong], enricher, OUTPUTS)
    assert not kept.rekeyed and kept.enriched is not None
