"""Enrichment: named entities from spaCy, then topic classification, for one or many dispatches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from schemas import Dispatch, EnrichedDispatch
from schemas.models import utc_now
from streams.nlp.classify import TopicClassifier, lead_end
from streams.nlp.entities import build_nlp, entities_of, gazetteer_index, summarize_entities
from streams.nlp.entity_watch import EntityWatch, EntityWatches
from streams.nlp.rules import TopicDefinition, load_definitions

if TYPE_CHECKING:
    from spacy.language import Language

logger = logging.getLogger(__name__)

# Texts spaCy processes together: the one batch size of offline enrichment and evaluation
# (the worker's batches of dispatches are the `batch_size` setting).
NLP_BATCH_SIZE = 16


@lru_cache(maxsize=2)
def load_nlp(model: str) -> Language:
    """The entity pipeline (gazetteer, NER, repairs), loaded once per process."""
    return build_nlp(model)


class Enricher:
    """Entities and topics for dispatches; the same code path for the worker and the CLI."""

    def __init__(self, nlp: Language, definitions: Sequence[TopicDefinition]) -> None:
        self.nlp = nlp
        # The languages analysed: the model's (the topic rules are written for it too).
        self.languages = frozenset({str(nlp.lang)})
        self.classifier = TopicClassifier(definitions)
        self.entity_watches = EntityWatches()
        self.gazetteer = gazetteer_index(nlp)

    def apply_watches(self, definitions: Sequence[TopicDefinition],
                      entity_watches: Sequence[EntityWatch]) -> None:
        """Classify with these watches from the next batch on (a batch begun keeps the
        watches it began with). They are compiled here, once per watch set, for the cost of
        a dispatch to grow little with their number."""
        self.classifier = TopicClassifier(definitions)
        self.entity_watches = EntityWatches(entity_watches)

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
        self, batch: Sequence[tuple[Dispatch, datetime]],
        observe: Callable[[str, float], None] | None = None,
    ) -> list[EnrichedDispatch]:
        """Enrich a batch; spaCy processes the texts together, which is faster than one by one.

        `observe(stage, seconds)` is called per dispatch for the "enrich" (entities) and
        "classify" stages, for metrics."""
        # Only the pipeline's language is analysed: French rules and a French model on German
        # text would make up entities and topics.
        supported = [(d, r) for d, r in batch if d.language in self.languages]
        unsupported = {id(d): self._not_analysed(d, r) for d, r in batch
                       if d.language not in self.languages}
        analysed = iter(self._analyse(supported, observe))
        return [unsupported[id(d)] if id(d) in unsupported else next(analysed)
                for d, _ in batch]

    def _not_analysed(self, dispatch: Dispatch, received_at: datetime) -> EnrichedDispatch:
        return EnrichedDispatch(**dispatch.model_dump(), entities=[], entity_summary=[],
                                topics=[], received_at=received_at, enriched_at=utc_now(),
                                analysis="unsupported_language")

    def _analyse(
        self, batch: Sequence[tuple[Dispatch, datetime]],
        observe: Callable[[str, float], None] | None,
    ) -> list[EnrichedDispatch]:
        texts: list[str] = []
        for dispatch, _ in batch:
            texts.append(dispatch.headline or "")
            texts.append(dispatch.body)
        began = time.perf_counter()
        docs = list(self.nlp.pipe(texts, batch_size=NLP_BATCH_SIZE))
        entities_by_dispatch = [
            entities_of(docs[2 * n], "headline", self.gazetteer)
            + entities_of(docs[2 * n + 1], "body", self.gazetteer)
            for n in range(len(batch))
        ]
        entity_seconds = (time.perf_counter() - began) / max(len(batch), 1)
        # The watches this batch began with, whatever is applied meanwhile.
        classifier, entity_watches = self.classifier, self.entity_watches
        versions = {d.topic: d.version for d in classifier.definitions}
        enriched = []
        for (dispatch, received_at), entities in zip(batch, entities_by_dispatch, strict=True):
            end_of_lead = lead_end(dispatch.body)
            began = time.perf_counter()
            topics = [match.model_copy(update={"watch_version": versions.get(match.topic)})
                      for match in classifier.classify(
                          dispatch.headline, dispatch.body,
                          frozenset(e.wikidata_id for e in entities if e.wikidata_id))]
            if observe is not None:
                observe("enrich", entity_seconds)
                observe("classify", time.perf_counter() - began)
            item = EnrichedDispatch(
                **dispatch.model_dump(),
                entities=entities,
                entity_summary=summarize_entities(entities, end_of_lead),
                topics=topics,
                received_at=received_at,
                enriched_at=utc_now(),
            )
            if entity_watches.watches:
                found = entity_watches.matches(item, end_of_lead)
                if found:
                    item = item.model_copy(update={"topics": [*topics, *found]})
            enriched.append(item)
        return enriched
