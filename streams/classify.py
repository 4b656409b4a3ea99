"""Topic classification: score a dispatch against each watched-topic definition, with evidence."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas import Evidence, TopicMatch
from streams.rules import TopicDefinition
from streams.text import fold

# Each further match of the same rule counts half as much as the one before: repetition
# shows the subject is sustained, without letting one phrase repeated ten times dominate.
REPEAT_DECAY = 0.5
MAX_EVIDENCE_PER_TOPIC = 25


@dataclass(frozen=True)
class Section:
    """A part of a dispatch that rules read: the headline or the body."""

    field: str  # "headline" or "body": where Evidence offsets point
    text: str
    lead_end: int  # offsets before this are in the lead (whole headline; first paragraph)


def sections_of(headline: str | None, body: str) -> tuple[Section, ...]:
    """The headline (all lead) and the body (lead = its first paragraph)."""
    first_break = body.find("\n\n")
    body_section = Section("body", body, len(body) if first_break < 0 else first_break)
    if headline and headline.strip():
        return (Section("headline", headline, len(headline)), body_section)
    return (body_section,)


@dataclass(frozen=True)
class TopicScore:
    """The full result of scoring one topic, above threshold or not (for eval and debugging)."""

    topic: str
    score: float
    raw_weight: float
    threshold: float
    missing_requirements: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    @property
    def matched(self) -> bool:
        return not self.missing_requirements and self.score >= self.threshold

    def to_match(self) -> TopicMatch:
        return TopicMatch(topic=self.topic, score=round(self.score, 4),
                          evidence=list(self.evidence))


def score_topic(definition: TopicDefinition, sections: Sequence[tuple[Section, str]]) -> TopicScore:
    """Score one topic on sections given with their folded text."""
    missing = tuple(
        requirement.name
        for requirement in definition.requires
        if not any(requirement.compiled.search(folded) for _, folded in sections)
    )
    evidence: list[Evidence] = []
    raw = 0.0
    for pattern in definition.patterns:
        multipliers: list[tuple[float, Evidence]] = []
        for section, folded in sections:
            for found in pattern.compiled.finditer(folded):
                in_lead = found.start() < section.lead_end
                boost = definition.lead_boost if in_lead else 1.0
                multipliers.append((boost, Evidence(
                    text=section.text[found.start():found.end()],
                    field=section.field,
                    start=found.start(),
                    end=found.end(),
                    rule=pattern.rule,
                    weight=pattern.weight * boost,
                )))
        # Strongest occurrences count first, each further one half as much.
        multipliers.sort(key=lambda item: -item[0])
        raw += pattern.weight * sum(m * REPEAT_DECAY**k for k, (m, _) in enumerate(multipliers))
        evidence.extend(item for _, item in multipliers)
    score = 0.0 if missing else 1.0 - math.exp(-max(raw, 0.0) / definition.saturation)
    evidence.sort(key=lambda item: (-abs(item.weight), item.field != "headline", item.start))
    return TopicScore(
        topic=definition.topic,
        score=score,
        raw_weight=raw,
        threshold=definition.threshold,
        missing_requirements=missing,
        evidence=tuple(evidence[:MAX_EVIDENCE_PER_TOPIC]),
    )


def score_topics(
    definitions: Iterable[TopicDefinition], headline: str | None, body: str
) -> list[TopicScore]:
    """Scores of every watched topic for one dispatch, best first."""
    folded = [(section, fold(section.text)) for section in sections_of(headline, body)]
    scores = [score_topic(definition, folded) for definition in definitions]
    return sorted(scores, key=lambda s: -s.score)


def classify(
    definitions: Iterable[TopicDefinition], headline: str | None, body: str
) -> list[TopicMatch]:
    """Exactly the watched topics the dispatch belongs to, best first, with their evidence."""
    return [s.to_match() for s in score_topics(definitions, headline, body) if s.matched]
