"""Topic classification: score a dispatch against each watched-topic definition, sentence by
sentence, with the evidence that produced the score."""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import re2

from schemas import Evidence, TopicMatch
from schemas.models import Position, Salience
from streams.nlp.rules import Pattern, Requirement, TopicDefinition
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

    def candidates(self, folded: str) -> frozenset[int]:
        """Numbers (in `index`) of the expressions that may match in `folded`."""
        found = self._set.Match(folded) or ()
        return frozenset(self._re2_to_index[n] for n in found) | self._always


def _words_between(folded: str, start: int, end: int) -> int:
    return len(_WORD.findall(folded, start, end)) if end > start else 0


MAX_MATCHES_PER_PART = 8


def _closest_parts(pattern: Pattern, folded: str) -> list[re.Match[str]] | None:
    """One match of each of the pattern's parts, the closest together; None when a part is
    missing or (with `within`) when no combination is near enough."""
    options: list[list[re.Match[str]]] = []
    for expression in pattern.compiled:
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


@dataclass(frozen=True)
class _CompiledDefinition:
    """A definition ready for classifying, built once per watch set: its patterns'
    expressions as prefilter numbers, and the numbers under which what it has in common with
    other definitions (a pattern, its background markers) is matched once for all."""

    definition: TopicDefinition
    parts: tuple[frozenset[int], ...]  # each pattern's expression numbers
    shared: tuple[int, ...]  # each pattern's number among the distinct (expressions, within)
    background: int  # its background markers' number among the distinct sets of them
    # The number of its patterns, background markers and position weights among the
    # distinct ones: definitions that differ only in threshold, requirements or salience
    # value a sentence the same.
    evidence_rules: int
    patterns_by_expression: dict[int, tuple[int, ...]]  # expression -> its patterns, in order


def _compile_definition(definition: TopicDefinition, prefilter: Prefilter,
                        shared: dict[tuple[tuple[str, ...], int | None], int],
                        backgrounds: dict[tuple[tuple[str, str], ...], int],
                        evidence_rules: dict[tuple[object, ...], int]
                        ) -> _CompiledDefinition:
    parts = tuple(frozenset(prefilter.index[source] for source in pattern.expressions)
                  for pattern in definition.patterns)
    by_expression: dict[int, list[int]] = {}
    for position, numbers in enumerate(parts):
        for number in numbers:
            by_expression.setdefault(number, []).append(position)
    patterns = tuple(shared.setdefault((pattern.expressions, pattern.within), len(shared))
                     for pattern in definition.patterns)
    # Numbers by repr: 0.0 and -0.0 are equal keys, but give evidence weights of either sign.
    background = backgrounds.setdefault(
        tuple((b.regex, repr(b.factor)) for b in definition.background), len(backgrounds))
    positions = definition.positions
    # Every field of a pattern goes into a sentence's evidence.
    rules = (background, repr((positions.headline, positions.lead, positions.body)),
             *((pattern.expressions, pattern.within, pattern.rule, repr(pattern.weight),
                pattern.substantive) for pattern in definition.patterns))
    return _CompiledDefinition(
        definition=definition,
        parts=parts,
        shared=patterns,
        background=background,
        evidence_rules=evidence_rules.setdefault(rules, len(evidence_rules)),
        patterns_by_expression={number: tuple(positions)
                                for number, positions in by_expression.items()},
    )


class _Quote(NamedTuple):
    """The fields of an `Evidence`, built only for the evidence a topic keeps."""

    text: str
    field: str
    position: Position
    start: int
    end: int
    rule: str
    weight: float


def _evidence(quote: _Quote) -> Evidence:
    return Evidence(text=quote.text, field=quote.field, position=quote.position,
                    start=quote.start, end=quote.end, rule=quote.rule, weight=quote.weight)


class _Dispatch:
    """One dispatch being classified: its sentences, their prefilter candidates, and what
    definitions have in common worked out once for all of them (pattern matches,
    background markers, requirement phrases)."""

    def __init__(self, sentences: Sequence[Sentence], candidates: Sequence[frozenset[int]],
                 entity_ids: frozenset[str]) -> None:
        self.sentences = sentences
        self.candidates = candidates
        self.entity_ids = entity_ids
        self.body_paragraphs = len({s.paragraph for s in sentences if s.position == "body"})
        self._parts: dict[tuple[int, int], list[re.Match[str]] | None] = {}
        self._factors: dict[tuple[int, int, int], float | None] = {}
        self._named: dict[str, bool] = {}
        self._texts: list[str] | None = None
        self._sentence_values: dict[tuple[int, int], tuple[float, bool, list[_Quote]]] = {}
        self._evidence: dict[_Quote, Evidence] = {}

    def sentence_evidence(self, number: int, compiled: _CompiledDefinition,
                          position_weight: float) -> tuple[float, bool, list[_Quote]]:
        """`_sentence_evidence`, once for the definitions with the same patterns,
        background markers and position weights."""
        key = (number, compiled.evidence_rules)
        known = self._sentence_values.get(key)
        if known is None:
            known = self._sentence_values[key] = _sentence_evidence(
                compiled, self, number, position_weight)
        return known

    def evidence(self, quote: _Quote) -> Evidence:
        """The `Evidence` of a quote, one (immutable) for the topics that keep the same."""
        if not quote.weight:  # 0.0 and -0.0 are one key: each is built with its own sign
            return _evidence(quote)
        known = self._evidence.get(quote)
        if known is None:
            known = self._evidence[quote] = _evidence(quote)
        return known

    def parts(self, number: int, compiled: _CompiledDefinition, position: int
              ) -> list[re.Match[str]] | None:
        """`_closest_parts` of the definition's `position`-th pattern in sentence `number`."""
        key = (number, compiled.shared[position])
        if key not in self._parts:
            self._parts[key] = _closest_parts(compiled.definition.patterns[position],
                                              self.sentences[number].folded)
        return self._parts[key]

    def background_factor(self, number: int, compiled: _CompiledDefinition, start: int
                          ) -> float | None:
        """The definition's `background_factor` at `start` in sentence `number`."""
        if not compiled.definition.background:
            return None
        key = (number, start, compiled.background)
        if key not in self._factors:
            self._factors[key] = compiled.definition.background_factor(
                self.sentences[number].folded, start)
        return self._factors[key]

    def names(self, requirement: Requirement) -> bool:
        """Whether the dispatch names what the requirement asks for."""
        if requirement.entities & self.entity_ids:
            return True
        if requirement.compiled is None or requirement.regex is None:
            return False
        named = self._named.get(requirement.regex)
        if named is None:
            if self._texts is None:
                self._texts = _field_texts(self.sentences)
            named = self._named[requirement.regex] = any(
                requirement.compiled.search(text) for text in self._texts)
        return named


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


def _sentence_evidence(compiled: _CompiledDefinition, dispatch: _Dispatch, number: int,
                       position_weight: float) -> tuple[float, bool, list[_Quote]]:
    """A sentence's value for a topic, whether a substantive pattern matched, and the
    evidence: the matched phrases, with offsets into the sentence's field.

    The value is that of the best positive match, less the hard negatives that overlap it:
    a negative names another sense of the same words ("le retrait des Etats-Unis de
    l'accord"), so it cancels those words, not the rest of the sentence. Positive evidence
    right after a background marker ("depuis le retrait") counts the marker's factor as
    much: it dates or sets the scene, it is not the news.

    Only the patterns whose every part is a prefilter candidate are tried, in their order:
    the others cannot match."""
    sentence, candidates = dispatch.sentences[number], dispatch.candidates[number]
    by_expression = compiled.patterns_by_expression
    possible = {position for expression in candidates
                for position in by_expression.get(expression, ())}
    positives: list[_Found] = []
    negatives: list[_Found] = []
    for position in sorted(possible):
        if not compiled.parts[position] <= candidates:
            continue
        parts = dispatch.parts(number, compiled, position)
        if parts is None:
            continue
        pattern = compiled.definition.patterns[position]
        found = _Found(pattern, parts, pattern.weight, pattern.rule)
        if pattern.weight < 0:
            negatives.append(found)
            continue
        factor = dispatch.background_factor(number, compiled, found.span[0])
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
        _Quote(sentence.text[m.start():m.end()], sentence.field, sentence.position,
               sentence.start + m.start(), sentence.start + m.end(), found.rule,
               round(found.weight * position_weight, 3))
        for found in (*positives, *cancelling) for m in found.parts]
    return best, substantive, evidence


def _field_texts(sentences: Sequence[Sentence]) -> list[str]:
    return [" ".join(s.folded for s in sentences if s.field == field)
            for field in ("headline", "body")]


def _salience(definition: TopicDefinition, dispatch: _Dispatch, values: dict[int, float],
              substantive: bool) -> Salience | None:
    """Where the topic stands as a subject: named in the headline, in the lead, or
    sustained through the body (or named as a subject by a substantive pattern); None for a
    passing mention. See `streams.nlp.rules.Salience`. `values` are the sentences' values
    by number; a sentence left out is worth 0, which no threshold (all > 0) reaches."""
    rule = definition.salience
    sentences = dispatch.sentences
    for position in ("headline", "lead"):
        if any(sentences[n].position == position and v >= rule.min_weight
               for n, v in values.items()):
            return position
    topical = {sentences[n].paragraph for n, v in values.items()
               if sentences[n].position == "body" and v >= rule.min_weight}
    sustained = (len(topical) >= rule.body_paragraphs_any_share
                 or (len(topical) >= rule.body_min_paragraphs
                     and len(topical) >= rule.body_min_share * dispatch.body_paragraphs))
    mentioned = {sentences[n].paragraph for n, v in values.items()
                 if sentences[n].position == "body" and v >= rule.weak_weight}
    running = (rule.mentioned_paragraphs is not None and len(topical) >= 1
               and len(mentioned) >= rule.mentioned_paragraphs)
    return "body" if substantive or sustained or running else None


def _evidence_order(quote: _Quote) -> tuple[float, bool, int]:
    return -abs(quote.weight), quote.field != "headline", quote.start


def score_topic(compiled: _CompiledDefinition, dispatch: _Dispatch, concerned: Sequence[int]
                ) -> TopicScore:
    """Score one topic: sentence values weighted by position, best first with decay; a
    topic that is not a subject (see `_salience`) counts `unsalient_factor` as much, one
    that is a subject only in the body `secondary_factor` as much. `concerned` are the
    numbers of the sentences where one of its expressions may match: the others are worth
    0 to it."""
    definition = compiled.definition
    missing = tuple(requirement.name for requirement in definition.requires
                    if not dispatch.names(requirement))
    positives: list[float] = []
    values: dict[int, float] = {}
    substantive = False
    evidence: list[_Quote] = []
    weights = definition.positions
    for number in concerned:
        position_weight = getattr(weights, dispatch.sentences[number].position)
        value, names_subject, found = dispatch.sentence_evidence(number, compiled,
                                                                 position_weight)
        substantive |= names_subject
        evidence.extend(found)
        values[number] = value
        if value > 0:
            positives.append(value * position_weight)
    positives.sort(reverse=True)
    raw = sum(value * DECAY**rank for rank, value in enumerate(positives))
    salience = _salience(definition, dispatch, values, substantive)
    if salience is None:
        raw *= definition.salience.unsalient_factor
    elif salience == "body":
        raw *= definition.salience.secondary_factor
    score = 0.0 if missing else 1.0 - math.exp(-max(raw, 0.0) / definition.saturation)
    evidence.sort(key=_evidence_order)
    return TopicScore(
        topic=definition.topic, score=score, raw_weight=raw, threshold=definition.threshold,
        missing_requirements=missing, salience=salience,
        evidence=tuple(dispatch.evidence(quote) for quote in evidence[:MAX_EVIDENCE_PER_TOPIC]),
    )


class TopicClassifier:
    """The watched-topic definitions, compiled for classifying many dispatches.

    Built once per watch set (`Enricher.apply_watches`), so that the cost of a dispatch
    grows little with the number of definitions: one prefilter pass per sentence for all
    of them, an index from each expression to the definitions that use it (a definition
    reads only the sentences where one of its expressions may match), and patterns that
    definitions share matched once."""

    def __init__(self, definitions: Iterable[TopicDefinition]) -> None:
        self.definitions = tuple(definitions)
        # One lead for all topics: the sentences are split once per dispatch.
        self.lead_words = max((d.salience.lead_words for d in self.definitions),
                              default=DEFAULT_LEAD_WORDS)
        self.prefilter = Prefilter(
            source for d in self.definitions for p in d.patterns for source in p.expressions)
        shared: dict[tuple[tuple[str, ...], int | None], int] = {}
        backgrounds: dict[tuple[tuple[str, str], ...], int] = {}
        evidence_rules: dict[tuple[object, ...], int] = {}
        self._compiled = tuple(
            _compile_definition(d, self.prefilter, shared, backgrounds, evidence_rules)
            for d in self.definitions)
        by_expression: dict[int, list[int]] = {}
        for number, compiled in enumerate(self._compiled):
            for expression in compiled.patterns_by_expression:
                by_expression.setdefault(expression, []).append(number)
        self._definitions_by_expression = {expression: tuple(numbers)
                                           for expression, numbers in by_expression.items()}

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(definition.topic for definition in self.definitions)

    def score_topics(self, headline: str | None, body: str,
                     entity_ids: frozenset[str] = frozenset()) -> list[TopicScore]:
        """Scores of every watched topic for one dispatch, best first."""
        sentences = sentences_of(headline, body, self.lead_words)
        candidates = [self.prefilter.candidates(s.folded) for s in sentences]
        concerned: list[list[int]] = [[] for _ in self._compiled]
        for number, found in enumerate(candidates):
            for definition in {d for expression in found
                               for d in self._definitions_by_expression.get(expression, ())}:
                concerned[definition].append(number)
        dispatch = _Dispatch(sentences, candidates, entity_ids)
        scores = [score_topic(compiled, dispatch, sentence_numbers)
                  for compiled, sentence_numbers in zip(self._compiled, concerned, strict=True)]
        return sorted(scores, key=lambda s: -s.score)

    def classify(self, headline: str | None, body: str,
                 entity_ids: frozenset[str] = frozenset()) -> list[TopicMatch]:
        """Exactly the watched topics the dispatch belongs to, best first, with their
        evidence. `entity_ids` are the Wikidata ids of the entities the dispatch names, for
        definitions whose requirements name entities."""
        return [s.to_match() for s in self.score_topics(headline, body, entity_ids)
                if s.matched]
