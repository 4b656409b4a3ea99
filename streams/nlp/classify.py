"""Topic classification: score a dispatch against each watched-topic definition, sentence by
sentence, with the evidence that produced the score."""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import re2

from schemas import Evidence, TopicMatch
from schemas.models import Position, Salience
from streams.nlp.rules import Pattern, TopicDefinition
from streams.nlp.text import fold

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
    position: Position
    paragraph: int  # 0 for the headline, then 1, 2, ... for the body's paragraphs


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\w+")
# A first paragraph this short is a dateline or a byline ("KABOUL, 15 août (AFP) -"): the
# lead is the paragraph after it.
MIN_LEAD_WORDS = 12
DEFAULT_LEAD_WORDS = 70


def lead_end(body: str, lead_words: int = DEFAULT_LEAD_WORDS) -> int:
    """Where the lead of a body ends: its first paragraph (the second too when the first is
    only a dateline), less the sentences that start past its first `lead_words` words."""
    end = len(body)
    words = 0
    for found in _PARAGRAPH_BREAK.finditer(body):
        words += len(_WORD.findall(body, 0 if words == 0 else end, found.start()))
        end = found.start()
        if words >= MIN_LEAD_WORDS:
            break
    else:
        end = len(body)
    nth = next(itertools.islice(_WORD.finditer(body, 0, end), lead_words, None), None)
    if nth is not None:
        for sentence in _SENTENCE.finditer(body, 0, end):
            if sentence.start() > nth.start():
                return sentence.start()
    return end


def sentences_of(headline: str | None, body: str,
                 lead_words: int = DEFAULT_LEAD_WORDS) -> list[Sentence]:
    """The sentences of headline and body, each marked headline, lead or body, with the
    number of its paragraph."""
    sentences = []
    if headline:
        folded = fold(headline)
        for found in _SENTENCE.finditer(headline):
            if found.group().strip():
                sentences.append(Sentence("headline", found.start(), found.group(),
                                          folded[found.start():found.end()], "headline", 0))
    end_of_lead = lead_end(body, lead_words)
    folded = fold(body)
    breaks = [m.end() for m in _PARAGRAPH_BREAK.finditer(body)]
    paragraph = 1
    for found in _SENTENCE.finditer(body):
        if not found.group().strip():
            continue
        start = found.start()
        while paragraph <= len(breaks) and start >= breaks[paragraph - 1]:
            paragraph += 1
        sentences.append(Sentence("body", start, found.group(), folded[start:found.end()],
                                  "lead" if start < end_of_lead else "body", paragraph))
    return sentences


@dataclass(frozen=True)
class TopicScore:
    """The full result of scoring one topic, above threshold or not (for eval and debugging)."""

    topic: str
    score: float
    raw_weight: float
    threshold: float
    missing_requirements: tuple[str, ...]
    salience: Salience | None  # where the topic stands as a subject; None: not a subject
    evidence: tuple[Evidence, ...]

    @property
    def matched(self) -> bool:
        return not self.missing_requirements and self.score >= self.threshold

    @property
    def passing_mention(self) -> bool:
        """Evidence, but not enough, or not where a subject stands."""
        return self.salience is None and any(e.weight > 0 for e in self.evidence)

    def to_match(self) -> TopicMatch:
        return TopicMatch(topic=self.topic, score=round(self.score, 4),
                          salience=self.salience or "body", evidence=list(self.evidence))


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
        self._by_pattern: dict[int, frozenset[int]] = {}
        self._patterns_by_expression: dict[str, dict[int, list[int]]] = {}
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

    def of_pattern(self, pattern: Pattern) -> frozenset[int]:
        """Numbers of a pattern's expressions: every one must be a candidate for it to match."""
        key = id(pattern)  # patterns live as long as their definitions, which hold them
        known = self._by_pattern.get(key)
        if known is None:
            known = self._by_pattern[key] = frozenset(
                self.index[source] for source in pattern.expressions)
        return known

    def possible_patterns(self, definition: TopicDefinition, candidates: frozenset[int]
                          ) -> list[Pattern]:
        """The definition's patterns whose every part is a candidate, in their order: the
        only ones that can match (found from the candidates, not by trying every pattern)."""
        by_expression = self._patterns_by_expression.get(definition.topic)
        if by_expression is None:
            by_expression = {}
            for position, pattern in enumerate(definition.patterns):
                for number in self.of_pattern(pattern):
                    by_expression.setdefault(number, []).append(position)
            self._patterns_by_expression[definition.topic] = by_expression
        positions = {position for number in candidates
                     for position in by_expression.get(number, ())}
        patterns = definition.patterns
        return [patterns[position] for position in sorted(positions)
                if self.of_pattern(patterns[position]) <= candidates]

    def candidates(self, folded: str) -> frozenset[int]:
        """Numbers (in `index`) of the expressions that may match in `folded`."""
        found = self._set.Match(folded) or ()
        return frozenset(self._re2_to_index[n] for n in found) | self._always


def _words_between(folded: str, start: int, end: int) -> int:
    return len(_WORD.findall(folded, start, end)) if end > start else 0


MAX_MATCHES_PER_PART = 8


def _closest_parts(pattern: Pattern, folded: str, allowed: Sequence[bool]
                   ) -> list[re.Match[str]] | None:
    """One match of each of the pattern's parts, the closest together; None when a part is
    missing or (with `within`) when no combination is near enough."""
    options: list[list[re.Match[str]]] = []
    for expression, may_match in zip(pattern.compiled, allowed, strict=True):
        if not may_match:
            return None
        if pattern.within is None:
            found = expression.search(folded)
            if found is None:
                return None  # all_of: stop at the first that fails
            options.append([found])
            continue
        matches = list(itertools.islice(expression.finditer(folded), MAX_MATCHES_PER_PART))
        if not matches:
            return None
        options.append(matches)
    if pattern.within is None:
        return [choice[0] for choice in options]
    best: tuple[int, list[re.Match[str]]] | None = None
    for combination in itertools.product(*options):
        ordered = sorted(combination, key=lambda m: m.start())
        if any(a.end() > b.start() for a, b in itertools.pairwise(ordered)):
            continue  # two parts on the same words
        gap = sum(_words_between(folded, a.end(), b.start())
                  for a, b in itertools.pairwise(ordered))
        if gap <= pattern.within and (best is None or gap < best[0]):
            best = (gap, list(combination))
    return best[1] if best else None


@dataclass
class _Found:
    """A pattern matched in a sentence: its parts, the span they cover, what it weighs."""

    pattern: Pattern
    parts: list[re.Match[str]]
    weight: float
    rule: str

    @property
    def span(self) -> tuple[int, int]:
        return min(m.start() for m in self.parts), max(m.end() for m in self.parts)

    def overlaps(self, other: _Found) -> bool:
        (start, end), (other_start, other_end) = self.span, other.span
        return start < other_end and other_start < end


def _sentence_evidence(definition: TopicDefinition, sentence: Sentence, position_weight: float,
                       prefilter: Prefilter | None = None, candidates: frozenset[int] = frozenset()
                       ) -> tuple[float, bool, list[Evidence]]:
    """A sentence's value for a topic, whether a substantive pattern matched, and the
    evidence: the matched phrases, with offsets into the sentence's field.

    The value is that of the best positive match, less the hard negatives that overlap it:
    a negative names another sense of the same words ("le retrait des Etats-Unis de
    l'accord"), so it cancels those words, not the rest of the sentence. Positive evidence
    right after a background marker ("depuis le retrait") counts the marker's factor as
    much: it dates or sets the scene, it is not the news."""
    if prefilter is not None and candidates.isdisjoint(prefilter.of_definition(definition)):
        return 0.0, False, []  # no expression of this topic can match here
    positives: list[_Found] = []
    negatives: list[_Found] = []
    possible = (definition.patterns if prefilter is None
                else prefilter.possible_patterns(definition, candidates))
    for pattern in possible:
        parts = _closest_parts(pattern, sentence.folded, [True] * len(pattern.expressions))
        if parts is None:
            continue
        found = _Found(pattern, parts, pattern.weight, pattern.rule)
        if pattern.weight < 0:
            negatives.append(found)
            continue
        factor = definition.background_factor(sentence.folded, found.span[0])
        if factor is not None:
            found.weight *= factor
            found.rule = f"{found.rule} (background)"
        positives.append(found)
    best = 0.0
    substantive = False
    cancelling: list[_Found] = []
    for found in positives:
        against = [n for n in negatives if n.overlaps(found)]
        cancelling.extend(n for n in against if n not in cancelling)
        value = found.weight + sum(n.weight for n in against)
        best = max(best, value)
        substantive |= (value > 0 and found.pattern.substantive
                        and not found.rule.endswith("(background)"))
    evidence = [
        Evidence(text=sentence.text[m.start():m.end()], field=sentence.field,
                 position=sentence.position, start=sentence.start + m.start(),
                 end=sentence.start + m.end(), rule=found.rule,
                 weight=round(found.weight * position_weight, 3))
        for found in (*positives, *cancelling) for m in found.parts]
    return best, substantive, evidence


def _field_texts(sentences: Sequence[Sentence]) -> list[str]:
    return [" ".join(s.folded for s in sentences if s.field == field)
            for field in ("headline", "body")]


def _salience(definition: TopicDefinition, sentences: Sequence[Sentence],
              values: Sequence[float], substantive: bool) -> Salience | None:
    """Where the topic stands as a subject: named in the headline, in the lead, or
    sustained through the body (or named as a subject by a substantive pattern); None for a
    passing mention. See `streams.nlp.rules.Salience`."""
    rule = definition.salience
    for position in ("headline", "lead"):
        if any(s.position == position and v >= rule.min_weight
               for s, v in zip(sentences, values, strict=True)):
            return position
    paragraphs = {s.paragraph for s in sentences if s.position == "body"}
    topical = {s.paragraph for s, v in zip(sentences, values, strict=True)
               if s.position == "body" and v >= rule.min_weight}
    sustained = (len(topical) >= rule.body_paragraphs_any_share
                 or (len(topical) >= rule.body_min_paragraphs
                     and len(topical) >= rule.body_min_share * len(paragraphs)))
    mentioned = {s.paragraph for s, v in zip(sentences, values, strict=True)
                 if s.position == "body" and v >= rule.weak_weight}
    running = (rule.mentioned_paragraphs is not None and len(topical) >= 1
               and len(mentioned) >= rule.mentioned_paragraphs)
    return "body" if substantive or sustained or running else None


def score_topic(definition: TopicDefinition, sentences: Sequence[Sentence],
                entity_ids: frozenset[str] = frozenset(), prefilter: Prefilter | None = None,
                candidates: Sequence[frozenset[int]] = ()) -> TopicScore:
    """Score one topic: sentence values weighted by position, best first with decay; a
    topic that is not a subject (see `_salience`) counts `unsalient_factor` as much, one
    that is a subject only in the body `secondary_factor` as much."""
    texts = _field_texts(sentences) if definition.requires else []
    missing = tuple(
        requirement.name for requirement in definition.requires
        if not (requirement.entities & entity_ids or (
            requirement.compiled is not None
            and any(requirement.compiled.search(text) for text in texts)))
    )
    positives: list[float] = []
    values: list[float] = []
    substantive = False
    evidence: list[Evidence] = []
    weights = definition.positions
    for number, sentence in enumerate(sentences):
        position_weight = getattr(weights, sentence.position)
        value, names_subject, found = _sentence_evidence(
            definition, sentence, position_weight, prefilter,
            candidates[number] if prefilter is not None else frozenset())
        substantive |= names_subject
        evidence.extend(found)
        values.append(value)
        if value > 0:
            positives.append(value * position_weight)
    positives.sort(reverse=True)
    raw = sum(value * DECAY**rank for rank, value in enumerate(positives))
    salience = _salience(definition, sentences, values, substantive)
    if salience is None:
        raw *= definition.salience.unsalient_factor
    elif salience == "body":
        raw *= definition.salience.secondary_factor
    score = 0.0 if missing else 1.0 - math.exp(-max(raw, 0.0) / definition.saturation)
    evidence.sort(key=lambda item: (-abs(item.weight), item.field != "headline", item.start))
    return TopicScore(
        topic=definition.topic, score=score, raw_weight=raw, threshold=definition.threshold,
        missing_requirements=missing, salience=salience,
        evidence=tuple(evidence[:MAX_EVIDENCE_PER_TOPIC]),
    )


class TopicClassifier:
    """The watched-topic definitions, compiled for classifying many dispatches."""

    def __init__(self, definitions: Iterable[TopicDefinition]) -> None:
        self.definitions = tuple(definitions)
        # One lead for all topics: the sentences are split once per dispatch.
        self.lead_words = max((d.salience.lead_words for d in self.definitions),
                              default=DEFAULT_LEAD_WORDS)
        self.prefilter = Prefilter(
            source for d in self.definitions for p in d.patterns for source in p.expressions)

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(definition.topic for definition in self.definitions)

    def score_topics(self, headline: str | None, body: str,
                     entity_ids: frozenset[str] = frozenset()) -> list[TopicScore]:
        """Scores of every watched topic for one dispatch, best first."""
        sentences = sentences_of(headline, body, self.lead_words)
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
