"""Pydantic models of every message wirewatch reads or writes on Kafka."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# A wire dispatch is a few thousand characters; a body far beyond this is a feed error
# (a whole page, a binary blob) and would stall the NLP step, so it is rejected.
MAX_BODY_CHARS = 100_000
MAX_HEADLINE_CHARS = 1_000

# Alert ids are UUIDv5 in this namespace over "<dispatch_id>/<topic>", so a replay or a
# redelivery yields the same id and subscribers can deduplicate on it.
ALERT_ID_NAMESPACE = uuid.UUID("5b0f4c52-6a61-4c6e-9c52-77697265e1a7")

EntityLabel = Literal["PER", "ORG", "LOC", "MISC"]
# Offsets of entities and evidence point into this field of the dispatch.
TextField = Literal["headline", "body"]
# Where a piece of text stands: the headline, the lead (first paragraph) or the rest.
Position = Literal["headline", "lead", "body"]
# Where a topic stands as a subject of a dispatch: named in the headline, in the lead, or
# sustained through the body.
Salience = Literal["headline", "lead", "body"]


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


DispatchId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_chars),
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class Message(BaseModel):
    """Base of all messages: immutable once built; unknown fields are ignored so that
    producers can add fields without breaking older workers."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    def to_json_bytes(self) -> bytes:
        """The wire form of every message: compact UTF-8 JSON."""
        return self.model_dump_json().encode("utf-8")


class Dateline(Message):
    """Where a dispatch was filed from, as the agency wrote it (e.g. Bruxelles, Belgique)."""

    city: ShortText | None = None
    country: ShortText | None = None


class Dispatch(Message):
    """One agency news item, as published to the input topic."""

    id: DispatchId = Field(description="Unique, stable id of the dispatch; the Kafka key.")
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] = Field(
        description="ISO 639 language code of the text, e.g. 'fr'."
    )
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)] = Field(
        description="Full text of the dispatch."
    )
    headline: Annotated[str, StringConstraints(max_length=MAX_HEADLINE_CHARS)] | None = None
    agency: ShortText | None = Field(default=None, description="e.g. AFP, Reuters.")
    dateline: Dateline | None = None
    published_at: AwareDatetime | None = Field(
        default=None, description="When the agency published it, with a timezone."
    )

    @field_validator("body")
    @classmethod
    def _body_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("body must contain text, not only whitespace")
        return value


class Entity(Message):
    """A named entity mention, with character offsets into the dispatch body."""

    text: str
    label: EntityLabel
    field: TextField = Field(default="body", description="Which text the offsets point into.")
    position: Position = Field(default="body",
                               description="Where it stands: headline, lead or the rest.")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    canonical: str | None = Field(default=None, description="Canonical name, when linked.")
    wikidata_id: str | None = Field(default=None, description="Wikidata QID, when linked.")

    @model_validator(mode="after")
    def _offsets_ordered(self) -> Entity:
        if self.end <= self.start:
            raise ValueError("end must be greater than start")
        return self


class EntitySummary(Message):
    """One distinct entity of a dispatch: how often and where it is named."""

    name: str = Field(description="Canonical name when linked, else the commonest spelling.")
    label: EntityLabel
    wikidata_id: str | None = None
    mentions: int = Field(ge=1)
    in_headline: bool
    in_lead: bool = Field(description="Named in the first paragraph of the body.")


class Evidence(Message):
    """One piece of text that made a topic match, and the rule that matched it."""

    text: str
    field: TextField = Field(default="body", description="Which text the offsets point into.")
    position: Position = Field(default="body",
                               description="Where it stands: headline, lead or the rest.")
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    rule: str = Field(description="Name of the rule (pattern) that matched.")
    # JSON has no NaN or infinity: pydantic would write them as null, which no consumer
    # (this worker included) reads back as a number.
    weight: float = Field(allow_inf_nan=False)


class TopicMatch(Message):
    """A watched topic a dispatch belongs to, how strongly, and why."""

    topic: str
    score: float = Field(ge=0.0, le=1.0)
    salience: Salience = Field(
        default="body",
        description="Where the topic stands as a subject: named in the headline, in the "
                    "lead, or sustained through the body.")
    evidence: list[Evidence]


class EnrichedDispatch(Dispatch):
    """A dispatch with its entities and the watched topics it belongs to."""

    entities: list[Entity]
    entity_summary: list[EntitySummary] = Field(
        description="Each distinct entity once, most salient first."
    )
    topics: list[TopicMatch] = Field(
        description="Exactly the watched topics the dispatch belongs to and alerts on."
    )
    received_at: AwareDatetime = Field(description="When the worker received the dispatch.")
    enriched_at: AwareDatetime = Field(description="When enrichment and classification ended.")


class Alert(Message):
    """What a subscriber of `alerts.<topic>` receives: one per dispatch and topic."""

    alert_id: str = Field(description="Deterministic id from dispatch id and topic.")
    topic: str
    score: float = Field(ge=0.0, le=1.0)
    salience: Salience = Field(
        default="body",
        description="Where the topic stands as a subject: headline, lead or body.")
    evidence: list[Evidence]
    dispatch_id: str
    headline: str | None = Field(
        description="The dispatch's headline, or its lead sentence when it has none."
    )
    agency: str | None = None
    dateline: Dateline | None = None
    published_at: AwareDatetime | None = None
    entities: list[EntitySummary] = Field(
        description="The most salient entities of the dispatch."
    )
    alerted_at: AwareDatetime


def alert_id_for(dispatch_id: str, topic: str) -> str:
    """The deterministic alert id of a dispatch on a topic."""
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, f"{dispatch_id}/{topic}"))


def utc_now() -> datetime:
    """Timestamps in messages are timezone-aware UTC."""
    return datetime.now(UTC)
