"""Entity watches: a watch defined by entities alone (a person and their office, a company),
by Wikidata id, with a condition on how much the dispatch is about them. Plain functions
over an enriched dispatch: no NLP is run again.

    watch: biden
    kind: entity
    version: "1"
    description: Joe Biden
    entities: [Q6279]
    salience: lead          # headline | lead | mentions
    min_mentions: 2         # with salience: mentions
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas import EnrichedDispatch, Evidence, TopicMatch
from streams.nlp.classify import lead_end

WikidataId = Annotated[str, StringConstraints(pattern=r"^Q[1-9][0-9]*$")]
WatchName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]


class EntityWatch(BaseModel):
    """A watch on entities: a dispatch matches when one of them is salient enough in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    watch: WatchName
    kind: Literal["entity"] = "entity"
    version: Annotated[str, StringConstraints(min_length=1)]
    description: str = ""
    entities: list[WikidataId] = Field(min_length=1, max_length=50)
    salience: Literal["headline", "lead", "mentions"] = Field(
        default="lead",
        description="headline: named in the headline; lead: in the headline or the first "
                    "paragraph; mentions: named at least `min_mentions` times anywhere.")
    min_mentions: int = Field(default=2, ge=1)


def match_entity_watch(watch: EntityWatch, enriched: EnrichedDispatch) -> TopicMatch | None:
    """The watch's match on the dispatch, or None. The evidence is every mention of the
    watched entities (their offsets in the headline or body); the score is 1."""
    wanted = set(watch.entities)
    named = [s for s in enriched.entity_summary if s.wikidata_id in wanted]
    if watch.salience == "headline":
        salient = any(s.in_headline for s in named)
    elif watch.salience == "lead":
        salient = any(s.in_headline or s.in_lead for s in named)
    else:
        salient = sum(s.mentions for s in named) >= watch.min_mentions
    if not salient:
        return None
    evidence = [Evidence(text=e.text, field=e.field, position=_position(e.field, e.start,
                                                                          enriched),
                         start=e.start, end=e.end, rule=f"entity:{e.wikidata_id}",
                         weight=1.0)
                for e in enriched.entities if e.wikidata_id in wanted]
    in_headline = any(s.in_headline for s in named)
    in_lead = any(s.in_lead for s in named)
    return TopicMatch(topic=watch.watch, score=1.0, evidence=evidence,
                      salience="headline" if in_headline else "lead" if in_lead else "body")


def _position(field: str, start: int, enriched: EnrichedDispatch) -> Literal["headline",
                                                                              "lead", "body"]:
    if field == "headline":
        return "headline"
    return "lead" if start < lead_end(enriched.body) else "body"
