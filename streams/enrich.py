"""Enrichment: named entities from spaCy, then topic classification, for one or many dispatches."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, get_args

from schemas import Dispatch, EnrichedDispatch, Entity
from schemas.models import EntityLabel, TextField, utc_now
from streams.classify import classify
from streams.rules import TopicDefinition, load_definitions

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

logger = logging.getLogger(__name__)

# Entity recognition needs only the model's own token vectors and its NER: the dependency
# parser and the lemmatizer cost time and change nothing in the entities.
UNUSED_COMPONENTS = ("parser", "lemmatizer", "morphologizer", "attribute_ruler", "senter")
_LABELS = frozenset(get_args(EntityLabel))
NLP_BATCH_SIZE = 16


@lru_cache(maxsize=2)
def load_nlp(model: str) -> Language:
    """Load a spaCy pipeline once per process, with only the components enrichment uses."""
    import spacy  # imported here: loading spaCy costs a second, and only the worker needs it

    try:
        return spacy.load(model, exclude=list(UNUSED_COMPONENTS))
    except OSError as exc:
        raise RuntimeError(
            f"spaCy model {model!r} is not installed; install the project "
            f"(`pip install -e .`), which pins it as a dependency"
        ) from exc


def entities_of(doc: Doc, field: TextField) -> list[Entity]:
    """The entities spaCy found, as schema objects with offsets into `field`."""
    return [
        Entity(text=span.text, label=span.label_, field=field,
               start=span.start_char, end=span.end_char)
        for span in doc.ents
        if span.label_ in _LABELS and span.text.strip()
    ]


class Enricher:
    """Entities and topics for dispatches; the same code path for the worker and the CLI."""

    def __init__(self, nlp: Language, definitions: Sequence[TopicDefinition]) -> None:
        self.nlp = nlp
        self.definitions = tuple(definitions)

    @classmethod
    def from_settings(cls, spacy_model: str) -> Enricher:
        return cls(load_nlp(spacy_model), load_definitions())

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(definition.topic for definition in self.definitions)

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
            entities = entities_of(headline_doc, "headline") + entities_of(body_doc, "body")
            enriched.append(EnrichedDispatch(
                **dispatch.model_dump(),
                entities=entities,
                topics=classify(self.definitions, dispatch.headline, dispatch.body),
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
