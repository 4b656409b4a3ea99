"""Pydantic models of every message wirewatch reads or writes on Kafka."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# A wire dispatch is a few thousand characters; a body far beyond this is a feed error
# (a whole page, a binary blob) and would stall the NLP step, so it is rejected.
MAX_BODY_CHARS = 100_000
MAX_HEADLINE_CHARS = 1_000
# An alert carries the lead for display; a first paragraph is rarely over a few hundred.
MAX_LEAD_CHARS = 2_000

# Alert ids are UUIDv5 in this namespace over "<dispatch_id>/<topic>", so a replay or a
# redelivery yields the same id and subscribers can deduplicate on it.
ALERT_ID_NAMESPACE = uuid.UUID("5b0f4c52-6a61-4c6e-9c52-77697265e1a7")

EntityLabel = Literal["PER", "ORG", "LOC", "MISC"]
# Offsets of entities and evidence point into this field of the dispatch.
TextField = Literal["headline", "body"]
# Where a piece of text stands: the headline, the lead (first paragraph) or the rest.
Position = Literal["headline", "lead", "body"]
PubStatus = Literal["usable", "withheld", "canceled"]
Signal = Literal["update", "correction"]
Analysis = Literal["complete", "unsupported_language"]
AlertStatus = Literal["new", "updated", "retracted"]
# Where a topic stands as a subject of a dispatch: named in the headline, in the lead, or
# sustained through the body.
Salience = Literal["headline", "lead", "body"]


# Rules on text, each stated once as a regex that the models check with Python's `re` and
# that the exported JSON Schema carries as is, so that a producer validating against the
# schema is refused exactly what the worker refuses. JSON Schema reads `pattern` as an
# ECMA-262 regex (Python validators use `re`): these keep to what both read alike,
# character classes of \uXXXX escapes: no \s or \d (Unicode in one, ASCII or another set
# in the other), and no `$` alone, which `re` lets match before a final newline.
#
# The C0 and C1 controls and DEL: Unicode category Cc.
CONTROL_CHARACTER = r"[\u0000-\u001f\u007f-\u009f]"
# A character that shows: not a control, not Unicode White_Space, not a
# Default_Ignorable_Code_Point (zero-width spaces and joiners, soft hyphen, bidi and
# variation marks, fillers). Only the Basic Multilingual Plane's: an astral range is not
# written alike in ECMA-262 and `re`, and the few astral ignorables are tags and musical
# formatting that no wire text is made of alone.
VISIBLE_CHARACTER = (
    r"[^\u0000-\u0020\u007f-\u00a0\u00ad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5"
    r"\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\u3164\ufe00-\ufe0f"
    r"\ufeff\uffa0\ufff0-\ufff8]"
)
# RFC 3339 `date-time` (JSON Schema's "format": "date-time"): a `T`, seconds, and an offset
# or `Z`. The models refuse what pydantic alone would take (a space for the `T`, no seconds,
# `+0530`, a Unix time, a number) and the schema states it as a pattern too, since many
# validators treat "format" as an annotation only. Day-of-month and year 0 are left to the
# date parser, and to the validators that check the format.
RFC3339_DATE_TIME = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)


@dataclass(frozen=True)
class TextRule:
    """A rule on a string, for `Annotated`: the model searches `regex` in the value, and the
    JSON Schema says the same with `pattern` (when it must match) or `not: {pattern}`."""

    regex: str
    must_match: bool
    message: str

    def check(self, value: str) -> str:
        if (re.search(self.regex, value) is not None) != self.must_match:
            raise ValueError(self.message)
        return value

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        key = "pattern" if self.must_match else "not"
        if key in json_schema:
            raise TypeError(f"a string takes one {key!r} rule at most: {json_schema}")
        json_schema[key] = self.regex if self.must_match else {"pattern": self.regex}
        return json_schema


NO_CONTROL_CHARACTERS = TextRule(CONTROL_CHARACTER, must_match=False,
                                 message="must not contain control characters")
VISIBLE_TEXT = TextRule(VISIBLE_CHARACTER, must_match=True,
                        message="must contain visible text, not only whitespace or "
                                "invisible characters")


@dataclass(frozen=True)
class Rfc3339:
    """For `Annotated[AwareDatetime, ...]`: on the wire, a timestamp is an RFC 3339 string;
    a number or any other spelling is refused (a `datetime` built in Python passes)."""

    def check(self, value: object) -> object:
        if isinstance(value, datetime):
            return value
        # fullmatch: the schema's `$` alone would let a final newline through (see above).
        if isinstance(value, str) and re.fullmatch(RFC3339_DATE_TIME, value):
            return value
        raise ValueError("must be an RFC 3339 date-time string with a timezone, "
                         "e.g. 2021-08-15T10:00:00+02:00")

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = RFC3339_DATE_TIME
        # `$` in Python's `re`, and so in Python validators, matches before a final newline.
        json_schema["not"] = {"pattern": CONTROL_CHARACTER}
        return json_schema


def _json_integer(value: object) -> object:
    """JSON Schema's integer: a number without a fractional part, 5 or 5.0 however large,
    never "5" or true, which pydantic's lax mode would take."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# Names and labels of a few words (an id, an agency, a city): some visible text, no control
# characters, at most 200 characters as sent; stripped of surrounding whitespace once valid.
ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    NO_CONTROL_CHARACTERS,
    VISIBLE_TEXT,
    AfterValidator(str.strip),
]
# The Kafka key of a dispatch and of everything made from it.
DispatchId = ShortText
# Timestamps in messages: RFC 3339 strings with a timezone on the wire.
Timestamp = Annotated[AwareDatetime, Rfc3339()]
# Counts and character offsets.
JsonInt = Annotated[int, BeforeValidator(_json_integer)]


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
    # No control characters: redundant with the pattern here, but a Python validator's `$`
    # would let "fr\n" through.
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$"),
                        NO_CONTROL_CHARACTERS] = Field(
        description="ISO 639 language code of the text, e.g. 'fr'."
    )
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS),
                    VISIBLE_TEXT] = Field(description="Full text of the dispatch.")
    headline: Annotated[str, StringConstraints(max_length=MAX_HEADLINE_CHARS)] | None = None
    agency: ShortText | None = Field(default=None, description="e.g. AFP, Reuters.")
    dateline: Dateline | None = None
    published_at: Timestamp | None = Field(
        default=None, description="When the agency published it, with a timezone."
    )
    # What the agencies' own formats carry (NewsML-G2, NewsML 1.2, ninjs); absent from
    # dispatches sent as plain JSON, where the dispatch is its own story.
    story_id: DispatchId | None = Field(
        default=None,
        description="The story this dispatch is a version of: the agency's guid without its "
                    "version (NewsML-G2 guid, NewsML 1.2 PublicIdentifier, ninjs uri).")
    version: JsonInt = Field(default=1, ge=1, description="Version of the story, from 1.")
    urgency: JsonInt | None = Field(
        default=None, ge=1, le=9, description="1 = flash ... 8: the agency's urgency.")
    pub_status: PubStatus = Field(
        default="usable", description="usable, withheld or canceled (a kill).")
    signal: Signal | None = Field(
        default=None, description="update or correction, when the agency says so.")
    subjects: list[ShortText] = Field(
        default_factory=list, max_length=200,
        description="Subject codes or names the agency gave, when present.")


class Entity(Message):
    """A named entity mention, with character offsets into the dispatch body."""

    text: str
    label: EntityLabel
    field: TextField = Field(default="body", description="Which text the offsets point into.")
    position: Position = Field(default="body",
                               description="Where it stands: headline, lead or the rest.")
    start: JsonInt = Field(ge=0)
    # The one rule of these models that JSON Schema cannot state: it compares two fields.
    end: JsonInt = Field(ge=0, description="End of the mention (exclusive); more than start.")
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
    mentions: JsonInt = Field(ge=1)
    in_headline: StrictBool
    in_lead: StrictBool = Field(description="Named in the first paragraph of the body.")


class Evidence(Message):
    """One piece of text that made a topic match, and the rule that matched it."""

    text: str
    field: TextField = Field(default="body", description="Which text the offsets point into.")
    position: Position = Field(default="body",
                               description="Where it stands: headline, lead or the rest.")
    start: JsonInt = Field(ge=0)
    end: JsonInt = Field(ge=0)
    rule: str = Field(description="Name of the rule (pattern) that matched.")
    # JSON has no NaN or infinity: pydantic would write them as null, which no consumer
    # (this worker included) reads back as a number.
    # Strict: a number, never the string "1.5" that lax mode would read as one.
    weight: float = Field(allow_inf_nan=False, strict=True)


class TopicMatch(Message):
    """A watched topic a dispatch belongs to, how strongly, and why."""

    topic: str
    score: float = Field(ge=0.0, le=1.0, strict=True)
    salience: Salience = Field(
        default="body",
        description="Where the topic stands as a subject: named in the headline, in the "
                    "lead, or sustained through the body.")
    evidence: list[Evidence]
    watch_version: str | None = Field(
        default=None, description="The version of the watch that matched.")


class EnrichedDispatch(Dispatch):
    """A dispatch with its entities and the watched topics it belongs to."""

    entities: list[Entity]
    entity_summary: list[EntitySummary] = Field(
        description="Each distinct entity once, most salient first."
    )
    topics: list[TopicMatch] = Field(
        description="Exactly the watched topics the dispatch belongs to and alerts on."
    )
    received_at: Timestamp = Field(description="When the worker received the dispatch.")
    enriched_at: Timestamp = Field(description="When enrichment and classification ended.")
    analysis: Analysis = Field(
        default="complete",
        description="'complete', or 'unsupported_language': no NLP pipeline for the "
                    "dispatch's language yet, so entities and topics were not computed "
                    "(none is listed; it raises no alert).")


class Alert(Message):
    """What a subscriber of `alerts.<topic>` receives: one alert per story and watched topic,
    published again (a new revision) each time a later version of the story changes it.
    The alert topics are compacted and keyed by `alert_id`: read from the beginning, they
    hold the latest revision of every alert."""

    alert_id: str = Field(
        description="UUIDv5 of story and watched topic (a dispatch without a story id is its "
                    "own story): the same for every revision of the alert, and its Kafka key.")
    revision: JsonInt = Field(
        default=1, ge=1,
        description="1 for the first alert on the story, then 2, 3, ... for each version "
                    "that changes it. (alert_id, revision) names one publication: a copy "
                    "with both equal is a redelivery.")
    status: AlertStatus = Field(
        default="new",
        description="'new' (revision 1); 'updated' (a later version still on the topic: "
                    "its headline, score and evidence); 'retracted' (a later version no "
                    "longer on the topic, or the agency killed or withheld the story; score "
                    "0 and no evidence).")
    topic: str
    watch_version: str | None = Field(
        default=None, description="The version of the watch that raised this revision.")
    score: float = Field(ge=0.0, le=1.0, strict=True)
    salience: Salience = Field(
        default="body",
        description="Where the topic stands as a subject: headline, lead or body.")
    evidence: list[Evidence]
    dispatch_id: DispatchId
    story_id: DispatchId | None = Field(
        default=None, description="The story the dispatch is a version of, when the agency "
                                  "says (agency formats).")
    version: JsonInt = Field(default=1, ge=1,
                             description="The version of the story this revision shows.")
    urgency: JsonInt | None = Field(
        default=None, ge=1, le=9, description="The agency's urgency: 1 = flash ... 8.")
    pub_status: PubStatus = Field(
        default="usable", description="The version's publication status: a retraction by a "
                                      "kill says canceled (or withheld).")
    headline: str | None = Field(
        description="The dispatch's headline, or its lead sentence when it has none."
    )
    lead: str | None = Field(
        default=None, max_length=MAX_LEAD_CHARS,
        description="The lead (first paragraph) of the body, as in the body: evidence in the "
                    "body that ends within it points into it by the same offsets.")
    agency: ShortText | None = None
    dateline: Dateline | None = None
    published_at: Timestamp | None = None
    entities: list[EntitySummary] = Field(
        description="The most salient entities of the dispatch."
    )
    alerted_at: Timestamp


SurgeKind = Literal["watch", "entity"]


class SurgeHeadline(Message):
    """One of the stories that made a surge: its latest headline seen, and its score."""

    story_id: DispatchId
    dispatch_id: DispatchId
    headline: str | None
    score: float = Field(ge=0.0, le=1.0, strict=True,
                         description="The watch's score (for an entity: 1).")
    published_at: Timestamp


class SurgeAlert(Message):
    """What a subscriber of `alerts.surge` receives: a watch, or an entity, suddenly
    everywhere. One alert per surge: it is said once when the window's count first stands
    out from the trailing baseline, and not again until the count has fallen back."""

    alert_id: str = Field(
        description="UUIDv5 of the key and the window it surged in; the Kafka key.")
    kind: SurgeKind = Field(description="'watch' (a watched topic) or 'entity'.")
    key: ShortText = Field(description="The watch's name, or the entity's Wikidata id.")
    name: str = Field(description="The watch's name, or the entity's canonical name.")
    count: JsonInt = Field(ge=0, description="Matching stories in the window.")
    baseline_mean: float = Field(
        ge=0.0, allow_inf_nan=False,
        description="Mean count of the trailing windows before it (the baseline).")
    baseline_spread: float = Field(
        ge=0.0, allow_inf_nan=False,
        description="Standard deviation of those counts (at least the configured floor).")
    z_score: float = Field(
        allow_inf_nan=False,
        description="How far the count stands out: the normal equivalent of the Poisson "
                    "upper tail, capped at 99 (a count far beyond any baseline).")
    window_start: Timestamp
    window_end: Timestamp
    top_headlines: list[SurgeHeadline] = Field(
        description="The window's highest-scoring stories, best first.")
    alerted_at: Timestamp


def surge_alert_id(key: str, window_end: datetime) -> str:
    """The deterministic id of the surge a key started in the window ending at
    `window_end` (a redelivery re-publishes the same id)."""
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, f"surge/{key}/{window_end.isoformat()}"))


def alert_id_for(story: str, topic: str) -> str:
    """The deterministic id of a story's alert on a topic (for a dispatch without a story
    id, `story` is the dispatch id)."""
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, f"{story}/{topic}"))


def utc_now() -> datetime:
    """Timestamps in messages are timezone-aware UTC."""
    return datetime.now(UTC)
