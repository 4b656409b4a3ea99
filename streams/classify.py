"""Topic classification: score a dispatch against each watched-topic definition, sentence by
sentence, with the evidence that produced the score."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import re2

from schemas import Evidence, TopicMatch
from streams.rules import TopicDefinition
from streams.text import fold

logger = logging.getLogger(__name__)

# The n-th best sentence of evidence counts DECAY**n as much as the best one: a sustained
# subject scores higher than a single sentence, without ten repetitions counting tenfold.
DECAY = 0.6
MAX_EVIDENCE_PER_TOPIC = 25
# A sentence ends at . ! ? … (and a closing quote) before a space, or at a line break.
_SENTENCE = re.compile(r"[^\s][^\n]*?(?:[.!?…]+[»\"”’']?(?=\s)|$)", re.MULTILINE)


@dataclass(frozen=True)
class Sentence:
    """A sentence of the headline or the body, with its folded text and where it stands."""

    field: str  # "headline" or "body": where Evidence offsets point
    start: int
    text: str
    folded: str
    position: str  # "headline", "lead" or "body"


def lead_end(body: str) -> int:
    """Where the lead (first) paragraph of a body ends."""
    first_break = body.find("\n\n")
    return len(body) if first_break < 0 else first_break


def sentences_of(headline: str | None, body: str) -> list[Sentence]:
    """The sentences of headline and body, each marked headline, lead or body."""
    sentences = []
    end_of_lead = lead_end(body)
    for field, text in (("headline", headline or ""), ("body", body)):
        folded = fold(text)
        for found in _SENTENCE.finditer(text):
            if not found.group().strip():
                continue
            start = found.start()
            position = field if field == "headline" else (
                "lead" if start < end_of_lead else "body")
            sentences.append(Sentence(field, start, found.group(),
                                      folded[start:found.end()], position))
    return sentences


@dataclass(frozen=True)
class TopicScore:
    """The full result of scoring one topic, above threshold or not (for eval and debugging)."""

    topic: str
    score: float
    raw_weight: float
    threshold: float
    missing_requirements: tuple[str, ...]
    passing_mention: bool
    evidence: tuple[Evidence, ...]

    @property
    def matched(self) -> bool:
        return not self.missing_requirements and self.score >= self.threshold

    def to_match(self) -> TopicMatch:
        return TopicMatch(topic=self.topic, score=round(self.score, 4),
                          evidence=list(self.evidence))


class Prefilter:
    """Which rule expressions can match in a sentence, found in one pass for all of them.

    Trying each expression with `re` on each sentence costs most of classification; RE2's
    set matcher answers for all expressions at once, about ten times faster. It is only a
    filter: what it admits is then matched by `re`, whose word boundaries and offsets the
    evidence uses, so the result is the same as without it."""

    def __init__(self, expressions: Iterable[str]) -> None:
        self.index: dict[str, int] = {}
        self._always: set[int] = set()
        self._re2_to_index: dict[int, int] = {}  # RE2 numbers what it accepted
        self._by_definition: dict[str, frozenset[int]] = {}
        self._set = re2.Set.SearchSet()
        for expression in dict.fromkeys(expressions):
            number = len(self.index)
            self.index[expression] = number
            # A leading word boundary keeps RE2's automaton small (ten times faster than
            # without). RE2's \b is ASCII: it sees a boundary after a non-ASCII letter where
            # `re` does not, so it still admits a superset of what `re` matches.
            try:
                added = self._set.Add(rf"\b(?:{expression})")
            except re2.error:  # an expression RE2 cannot read is simply always tried
                logger.warning("rule expression not prefiltered: %s", expression)
                self._always.add(number)
                continue
            self._re2_to_index[added] = number
        self._set.Compile()

    def of_definition(self, definition: TopicDefinition) -> frozenset[int]:
        """Numbers of a definition's expressions."""
        known = self._by_definition.get(definition.topic)
        if known is None:
            known = self._by_definition[definition.topic] = frozenset(
                self.index[source] for p in definition.patterns for source in p.expressions)
        return known

    def candidates(self, folded: str) -> frozenset[int]:
        """Numbers (in `index`) of the expressions that may match in `folded`."""
        found = self._set.Match(folded) or ()
        return frozenset(self._re2_to_index[n] for n in found) | self._always


def _sentence_evidence(definition: TopicDefinition, sentence: Sentence, position_weight: float,
                       prefilter: Prefilter | None = None, candidates: frozenset[int] = frozenset()
                       ) -> tuple[float, bool, list[Evidence]]:
    """A sentence's value for a topic (its best positive pattern plus every negative one),
    whether a substantive pattern matched, and the evidence: the matched phrases, with
    offsets into the sentence's field."""
    best = 0.0
    negative = 0.0
    substantive = False
    evidence: list[Evidence] = []
    if prefilter is not None and candidates.isdisjoint(prefilter.of_definition(definition)):
        return 0.0, False, evidence  # no expression of this topic can match here
    for pattern in definition.patterns:
        found = []
        for source, expression in zip(pattern.expressions, pattern.compiled, strict=True):
            if prefilter is not None and prefilter.index[source] not in candidates:
                break  # cannot match here
            match = expression.search(sentence.folded)
            if match is None:
                break  # all_of: stop at the first that fails
            found.append(match)
        if len(found) < len(pattern.compiled):
            continue
        if pattern.weight >= 0:
            best = max(best, pattern.weight)
            substantive |= pattern.substantive
        else:
            negative += pattern.weight
        for match in found:
            start, end = sentence.start + match.start(), sentence.start + match.end()
            evidence.append(Evidence(
                text=sentence.text[match.start():match.end()], field=sentence.field,
                start=start, end=end, rule=pattern.rule,
                weight=round(pattern.weight * position_weight, 3)))
    return best + negative, substantive, evidence


def _field_texts(sentences: Sequence[Sentence]) -> list[str]:
    return [" ".join(s.folded for s in sentences if s.field == field)
            for field in ("headline", "body")]


def score_topic(definition: TopicDefinition, sentences: Sequence[Sentence],
                entity_ids: frozenset[str] = frozenset(), prefilter: Prefilter | None = None,
                candidates: Sequence[frozenset[int]] = ()) -> TopicScore:
    """Score one topic: sentence values weighted by position, best first with decay;
    negatives subtract; a passing mention counts `passing_mention_factor` as much."""
    texts = _field_texts(sentences) if definition.requires else []
    missing = tuple(
        requirement.name for requirement in definition.requires
        if not (requirement.entities & entity_ids or (
            requirement.compiled is not None
            and any(requirement.compiled.search(text) for text in texts)))
    )
    positives: list[float] = []
    negatives = 0.0
    prominent = False  # positive evidence in the headline or lead
    substantive = False  # or a sentence that names the topic as a subject
    evidence: list[Evidence] = []
    weights = definition.positions
    for number, sentence in enumerate(sentences):
        position_weight = getattr(weights, sentence.position)
        value, names_subject, found = _sentence_evidence(
            definition, sentence, position_weight, prefilter,
            candidates[number] if prefilter is not None else frozenset())
        evidence.extend(found)
        if value > 0:
            positives.append(value * position_weight)
            prominent |= sentence.position != "body"
            substantive |= names_subject
        elif value < 0:
            negatives += value * position_weight
    positives.sort(reverse=True)
    raw = sum(value * DECAY**rank for rank, value in enumerate(positives)) + negatives
    passing = not (prominent or substantive) and len(positives) < definition.min_sentences
    if passing:
        raw *= definition.passing_mention_factor
    elif not prominent:
        raw *= definition.secondary_factor
    score = 0.0 if missing else 1.0 - math.exp(-max(raw, 0.0) / definition.saturation)
    evidence.sort(key=lambda item: (-abs(item.weight), item.field != "headline", item.start))
    return TopicScore(
        topic=definition.topic, score=score, raw_weight=raw, threshold=definition.threshold,
        missing_requirements=missing, passing_mention=passing,
        evidence=tuple(evidence[:MAX_EVIDENCE_PER_TOPIC]),
    )


class TopicClassifier:
    """The watched-topic definitions, compiled for classifying many dispatches."""

    def __init__(self, definitions: Iterable[TopicDefinition]) -> None:
        self.definitions = tuple(definitions)
        self.prefilter = Prefilter(
            source for d in self.definitions for p in d.patterns for source in p.expressions)

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(definition.topic for definition in self.definitions)

    def score_topics(self, headline: str | None, body: str,
                     entity_ids: frozenset[str] = frozenset()) -> list[TopicScore]:
        """Scores of every watched topic for one dispatch, best first."""
        sentences = sentences_of(headline, body)
        candidates = [self.prefilter.candidates(s.folded) for s in sentences]
        scores = [score_topic(definition, sentences, entity_ids, self.prefilter, candidates)
                  for definition in self.definitions]
        return sorted(scores, key=lambda s: -s.score)

    def classify(self, headline: str | None, body: str,
                 entity_ids: frozenset[str] = frozenset()) -> list[TopicMatch]:
        """Exactly the watched topics the dispatch belongs to, best first, with their
        evidence. `entity_ids` are the Wikidata ids of the entities the dispatch names, for
        definitions whose requirements name entities."""
        return [s.to_match() for s in self.score_topics(headline, body, entity_ids)
                if s.matched]
