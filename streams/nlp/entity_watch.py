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

from collections.abc import Iterable
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


def match_entity_watch(watch: EntityWatch, enriched: EnrichedDispatch,
                       end_of_lead: int | None = None) -> TopicMatch | None:
    """The watch's match on the dispatch, or None. The evidence is every mention of the
    watched entities (their offsets in the headline or body); the score is 1.
    `end_of_lead`: where the body's lead ends (`lead_end`), when the caller knows it."""
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
    if end_of_lead is None:
        end_of_lead = lead_end(enriched.body)
    evidence = [Evidence(text=e.text, field=e.field, position=_position(e.field, e.start,
                                                                          end_of_lead),
                         start=e.start, end=e.end, rule=f"entity:{e.wikidata_id}",
                         weight=1.0)
                for e in enriched.entities if e.wikidata_id in wanted]
    in_headline = any(s.in_headline for s in named)
    in_lead = any(s.in_lead for s in named)
    return TopicMatch(topic=watch.watch, score=1.0, evidence=evidence,
                      salience="headline" if in_headline else "lead" if in_lead else "body")


def _position(field: str, start: int, end_of_lead: int) -> Literal["headline", "lead", "body"]:
    if field == "headline":
        return "headline"
    return "lead" if start < end_of_lead else "body"


class EntityWatches:
    """A set of entity watches indexed by Wikidata id, built once per watch set: a dispatch
    is tried only against the watches on the entities it names, not against every one."""

    def __init__(self, watches: Iterable[EntityWatch] = ()) -> None:
        self.watches = tuple(watches)
        by_entity: dict[str, list[int]] = {}
        for number, watch in enumerate(self.watches):
            for entity in dict.fromkeys(watch.entities):
                by_entity.setdefault(entity, []).append(number)
        self._by_entity = {entity: tuple(numbers) for entity, numbers in by_entity.items()}

    def matches(self, enriched: EnrichedDispatch, end_of_lead: int | None = None
                ) -> list[TopicMatch]:
        """The matches of the watches on the dispatch, in the watches' order, each stamped
        with its watch's version. A watch on none of the entities the dispatch names has no
        match, so it is not tried."""
        named = {number for summary in enriched.entity_summary if summary.wikidata_id
                 for number in self._by_entity.get(summary.wikidata_id, ())}
        if named and end_of_lead is None:
            end_of_lead = lead_end(enriched.body)
        return [match.model_copy(update={"watch_version": self.watches[number].version})
                for number in sorted(named)
                if (match := match_entity_watch(self.watches[number], enriched, end_of_lead))
                is not None]
