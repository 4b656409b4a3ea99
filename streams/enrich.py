"""Enrichment: named entities from spaCy, then topic classification, for one or many dispatches."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from schemas import Dispatch, EnrichedDispatch
from schemas.models import utc_now
from streams.classify import TopicClassifier, lead_end
from streams.entities import build_nlp, entities_of, gazetteer_index, summarize_entities
from streams.rules import TopicDefinition, load_definitions

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

logger = logging.getLogger(__name__)

NLP_BATCH_SIZE = 16


@lru_cache(maxsize=2)
def load_nlp(model: str) -> Language:
    """The entity pipeline (gazetteer, NER, repairs), loaded once per process."""
    return build_nlp(model)


class Enricher:
    """Entities and topics for dispatches; the same code path for the worker and the CLI."""

    def __init__(self, nlp: Language, definitions: Sequence[TopicDefinition]) -> None:
        self.nlp = nlp
        self.classifier = TopicClassifier(definitions)
        self.gazetteer = gazetteer_index(nlp)

    @classmethod
    def from_settings(cls, spacy_model: str) -> Enricher:
        return cls(load_nlp(spacy_model), load_definitions())

    @property
    def definitions(self) -> tuple[TopicDefinition, ...]:
        return self.classifier.definitions

    @property
    def topics(self) -> tuple[str, ...]:
        return self.classifier.topics

    def enrich(self, dispatch: Dispatch, received_at: datetime | None = None) -> EnrichedDispatch:
        return self.enrich_many([(dispatch, received_at or utc_now())])[0]

    def enrich_many(
        self, batch: Sequence[tuple[Dispatch, datetime]]
    ) -> list[EnrichedDispatch]:
        """Enrich a batch; spaCy processes the texts together, which is faster than one by one."""
        texts: list[str] = []
        for dispatch, _ in batch:
            texts.append(dispatch.headline or "")
            texts.append(dispatch.body)
        docs = iter(self.nlp.pipe(texts, batch_size=NLP_BATCH_SIZE))
        enriched = []
        for (dispatch, received_at), headline_doc, body_doc in _triples(batch, docs):
            entities = (entities_of(headline_doc, "headline", self.gazetteer)
                        + entities_of(body_doc, "body", self.gazetteer))
            enriched.append(EnrichedDispatch(
                **dispatch.model_dump(),
                entities=entities,
                entity_summary=summarize_entities(entities, lead_end(dispatch.body)),
                topics=self.classifier.classify(
                    dispatch.headline, dispatch.body,
                    frozenset(e.wikidata_id for e in entities if e.wikidata_id)),
                received_at=received_at,
                enriched_at=utc_now(),
            ))
        return enriched


def _triples(
    batch: Sequence[tuple[Dispatch, datetime]], docs: Iterable[Doc]
) -> Iterable[tuple[tuple[Dispatch, datetime], Doc, Doc]]:
    iterator = iter(docs)
    for item in batch:
        yield item, next(iterator), next(iterator)
