"""What a candidate watch would change against the live one, on dispatches already enriched
(read back from `dispatches.enriched`): the alerts it would add and remove. No NLP is run
again: the rules read the headline, the body and the entities' ids the record carries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas import EnrichedDispatch, TopicMatch
from streams.nlp.classify import TopicClassifier
from streams.nlp.entity_watch import EntityWatch, match_entity_watch
from streams.nlp.rules import TopicDefinition

Watch = TopicDefinition | EntityWatch


def match_of(watch: Watch | None, enriched: EnrichedDispatch,
             classifier: TopicClassifier | None) -> TopicMatch | None:
    """The watch's match on an enriched dispatch (None: no match, or no watch)."""
    if watch is None:
        return None
    if isinstance(watch, EntityWatch):
        found = match_entity_watch(watch, enriched)
    else:
        assert classifier is not None
        entity_ids = frozenset(e.wikidata_id for e in enriched.entities if e.wikidata_id)
        found = next(iter(classifier.classify(enriched.headline, enriched.body, entity_ids)),
                     None)
    return found.model_copy(update={"watch_version": watch.version}) if found else None


@dataclass
class WatchDiff:
    """The dispatches whose alert the candidate adds or removes, and how many keep theirs."""

    added: list[tuple[EnrichedDispatch, TopicMatch]] = field(default_factory=list)
    removed: list[tuple[EnrichedDispatch, TopicMatch]] = field(default_factory=list)
    kept: int = 0
    read: int = 0


def compare_watches(candidate: Watch, live: Watch | None,
                    dispatches: Iterable[EnrichedDispatch]) -> WatchDiff:
    """Run the candidate and the live version of the same watch over `dispatches`. Only
    dispatches analysed in full count (a language without a pipeline has no entities)."""
    def classifier(watch: Watch | None) -> TopicClassifier | None:
        return TopicClassifier([watch]) if isinstance(watch, TopicDefinition) else None

    candidate_rules, live_rules = classifier(candidate), classifier(live)
    diff = WatchDiff()
    for enriched in dispatches:
        if enriched.analysis != "complete":
            continue
        diff.read += 1
        new = match_of(candidate, enriched, candidate_rules)
        old = match_of(live, enriched, live_rules)
        if new and not old:
            diff.added.append((enriched, new))
        elif old and not new:
            diff.removed.append((enriched, old))
        elif new and old:
            diff.kept += 1
    return diff
