"""Topic quality: precision, recall and F1 by topic, by length and by where the topic
stands, every error explained; and the keyword anchor to compare with."""


from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas import Dispatch
from schemas.models import utc_now
from streams.feeds.decode import InvalidDispatch, decode_dispatch
from streams.nlp.datafiles import DataFileError, numbered_lines
from streams.nlp.enrich import NLP_BATCH_SIZE
from streams.nlp.text import fold

if TYPE_CHECKING:
    from streams.nlp.classify import TopicClassifier
    from streams.nlp.enrich import Enricher

from streams.quality.scores import PRF

# Length buckets, in words of headline and body: a flash or headline with standfirst, and a
# full article. Quality is reported for each apart: they fail in different ways.
SHORT_WORDS = 60
LONG_WORDS = 400
LENGTHS = ("short", "long")
SALIENCES = ("headline", "lead", "body")


def length_of(words: int) -> str:
    """The length bucket of an item: short (<= 60 words), long (>= 400) or medium."""
    if words <= SHORT_WORDS:
        return "short"
    return "long" if words >= LONG_WORDS else "medium"


def word_count(headline: str | None, body: str) -> int:
    return len(f"{headline or ''} {body}".split())


class LabelledDispatch(BaseModel):
    """A line of a topic evaluation file: a Dispatch with the topics it belongs to."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    labels: list[str]


def _macro(counts: Mapping[str, PRF], measure: str) -> float:
    values = [getattr(c, measure) for c in counts.values()]
    return sum(values) / len(values) if values else 0.0


@dataclass
class TopicReport:
    """Per-topic precision, recall and F1, overall and by length; the alerts by where their
    evidence stands; and every misclassified dispatch with its score and evidence."""

    topics: tuple[str, ...]
    by_topic: dict[str, PRF] = field(init=False)
    by_length: dict[str, dict[str, PRF]] = field(init=False)
    # Of the alerts raised: right ones as true positives, wrong ones as false positives.
    by_salience: dict[str, dict[str, PRF]] = field(init=False)
    items: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_topic = {topic: PRF() for topic in self.topics}
        self.by_length = {bucket: {topic: PRF() for topic in self.topics}
                          for bucket in (*LENGTHS, "medium")}
        self.by_salience = {where: {topic: PRF() for topic in self.topics}
                            for where in SALIENCES}

    @property
    def macro_f1(self) -> float:
        return _macro(self.by_topic, "f1")

    @property
    def macro_precision(self) -> float:
        return _macro(self.by_topic, "precision")

    @property
    def macro_recall(self) -> float:
        return _macro(self.by_topic, "recall")

    def macro_f1_of(self, length: str) -> float:
        return _macro(self.by_length[length], "f1")

    def add(self, dispatch_id: str, headline: str | None, words: int, gold: set[str],
            scores: Iterable[Any]) -> None:
        """Count one dispatch. `scores` are its `TopicScore`s, one per watched topic."""
        bucket = length_of(words)
        self.items[bucket] += 1
        for score in scores:
            topic = score.topic
            predicted, actual = score.matched, topic in gold
            outcome = PRF(true_positives=int(predicted and actual),
                          false_positives=int(predicted and not actual),
                          false_negatives=int(actual and not predicted))
            self.by_topic[topic].add(outcome)
            self.by_length[bucket][topic].add(outcome)
            if predicted and score.salience in self.by_salience:
                self.by_salience[score.salience][topic].add(outcome)
            if predicted != actual:
                self.errors.append({
                    "id": dispatch_id, "topic": topic,
                    "kind": "false positive" if predicted else "false negative",
                    "score": round(score.score, 4), "salience": score.salience,
                    "missing": list(score.missing_requirements), "words": words,
                    "headline": headline,
                    "evidence": [e.model_dump(include={"text", "rule", "weight", "position"})
                                 for e in score.evidence]})

    def as_dict(self) -> dict[str, Any]:
        def table(counts: Mapping[str, PRF]) -> dict[str, Any]:
            return {"topics": {topic: c.as_dict() for topic, c in counts.items()},
                    "macro": {"precision": round(_macro(counts, "precision"), 4),
                              "recall": round(_macro(counts, "recall"), 4),
                              "f1": round(_macro(counts, "f1"), 4)}}
        return {
            "items": dict(self.items),
            **table(self.by_topic),
            "by_length": {bucket: {"items": self.items[bucket], **table(counts)}
                          for bucket, counts in self.by_length.items()},
            "alerts_by_salience": {
                where: {topic: {"right": c.true_positives, "wrong": c.false_positives}
                        for topic, c in counts.items()}
                for where, counts in self.by_salience.items()},
            "false_positives": [e for e in self.errors if e["kind"] == "false positive"],
            "false_negatives": [e for e in self.errors if e["kind"] == "false negative"],
        }


def evaluate_topics(enricher: Enricher, items: Sequence[tuple[Dispatch, set[str]]],
                    batch_size: int = NLP_BATCH_SIZE) -> TopicReport:
    """Classify labelled dispatches through the worker's code path (entities, then topics)
    and count the outcomes."""
    report = TopicReport(enricher.topics)
    now = utc_now()
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        for (dispatch, gold), enriched in zip(
                chunk, enricher.enrich_many([(d, now) for d, _ in chunk]), strict=True):
            scores = enricher.classifier.score_topics(
                dispatch.headline, dispatch.body,
                frozenset(e.wikidata_id for e in enriched.entities if e.wikidata_id))
            report.add(dispatch.id, dispatch.headline,
                       word_count(dispatch.headline, dispatch.body), gold, scores)
    return report


# The simplest classifier a user could write: keywords in the headline and first 60 words.
# `wirewatch eval --anchor` scores it in the same run, as the floor any rule set must beat.
ANCHOR_KEYWORDS = {
    "withdrawal": ("retrait des troupes", "retrait des forces", "retrait des soldats",
                   "retrait militaire", "retrait americain", "retrait russe", "se retirer",
                   "se retire", "desengagement", "depart des troupes", "depart des soldats"),
    "russia-ukraine": ("ukraine", "ukrainien", "kiev", "kyiv", "zelensky", "donbass",
                       "crimee", "invasion russe"),
    "iran-deal": ("nucleaire iranien", "accord nucleaire", "jcpoa", "aiea", "uranium",
                  "enrichissement", "programme nucleaire"),
}


@dataclass(frozen=True)
class AnchorScore:
    """The keyword anchor's verdict on one topic, shaped like a `TopicScore`."""

    topic: str
    matched: bool
    score: float = 0.0
    salience: str | None = None
    missing_requirements: tuple[str, ...] = ()
    evidence: tuple[Any, ...] = ()


def keyword_anchor(headline: str | None, body: str) -> list[AnchorScore]:
    opening = fold(" ".join(f"{headline or ''} {body}".split()[:SHORT_WORDS]))
    return [AnchorScore(topic, any(k in opening for k in keywords))
            for topic, keywords in ANCHOR_KEYWORDS.items()]


def evaluate_anchor(items: Sequence[tuple[Dispatch, set[str]]]) -> TopicReport:
    report = TopicReport(tuple(ANCHOR_KEYWORDS))
    for dispatch, gold in items:
        report.add(dispatch.id, dispatch.headline, word_count(dispatch.headline, dispatch.body),
                   gold, keyword_anchor(dispatch.headline, dispatch.body))
    return report


def evaluate_rules(classifier: TopicClassifier, items: Sequence[tuple[Dispatch, set[str]]]
                   ) -> TopicReport:
    """Classify labelled dispatches by the topic rules alone, without the entity pipeline:
    what a rule change does, in a fraction of a second. Definitions that require linked
    entities see none here."""
    report = TopicReport(classifier.topics)
    for dispatch, gold in items:
        report.add(dispatch.id, dispatch.headline, word_count(dispatch.headline, dispatch.body),
                   gold, classifier.score_topics(dispatch.headline, dispatch.body))
    return report


def read_labelled_dispatches(path: Path, topics: Iterable[str]
                             ) -> list[tuple[Dispatch, set[str]]]:
    """Read a topic evaluation file: JSON lines of dispatches with their "labels". A bad
    line, or a label that is not a watched topic, raises `DataFileError` with its line."""
    watched = set(topics)
    items = []
    with path.open("rb") as lines:
        for number, line in numbered_lines(lines):
            try:
                dispatch = decode_dispatch(line)
                labels = set(LabelledDispatch.model_validate_json(line).labels)
            except (InvalidDispatch, ValidationError) as exc:
                raise DataFileError(path, number, str(exc)) from None
            if labels - watched:
                raise DataFileError(path, number, f"unknown topic(s) {sorted(labels - watched)}; "
                                                  f"watched: {', '.join(sorted(watched))}")
            items.append((dispatch, labels))
    return items


def _prf_cells(counts: PRF) -> str:
    if not counts.support and not counts.false_positives:
        return f"{'-':>6}{'-':>6}{'-':>6}{0:>4}"
    return (f"{counts.precision:>6.2f}{counts.recall:>6.2f}{counts.f1:>6.2f}"
            f"{counts.support:>4}")


def format_topic_report(report: TopicReport, title: str, *, show_errors: bool = True) -> str:
    columns = [("all", report.by_topic), *((f"{bucket} ({report.items[bucket]})",
                                            report.by_length[bucket]) for bucket in LENGTHS)]
    lines = [title,
             f"{'':<16}" + "".join(f"{name:<22}" for name, _ in columns),
             f"{'topic':<16}" + f"{'P':>6}{'R':>6}{'F1':>6}{'n':>4}" * len(columns)]
    for topic in report.topics:
        lines.append(f"{topic:<16}" + "".join(_prf_cells(c[topic]) for _, c in columns))
    lines.append(f"{'macro':<16}" + "".join(
        f"{_macro(c, 'precision'):>6.2f}{_macro(c, 'recall'):>6.2f}{_macro(c, 'f1'):>6.2f}"
        f"{'':>4}" for _, c in columns))
    lines.append(f"(short: <= {SHORT_WORDS} words, long: >= {LONG_WORDS} words; "
                 f"{report.items['medium']} medium items count in 'all' only)")
    where = []
    for salience, counts in report.by_salience.items():
        right = sum(c.true_positives for c in counts.values())
        wrong = sum(c.false_positives for c in counts.values())
        where.append(f"{salience} {right} right / {wrong} wrong")
    lines.append("alerts by where the topic stands: " + ", ".join(where))
    if show_errors:
        for error in sorted(report.errors, key=lambda e: (e["kind"], e["topic"], e["id"])):
            evidence = "; ".join(
                f"«{e['text']}» {e['rule']} {e['weight']:+.1f} ({e['position']})"
                for e in error["evidence"][:6]) or "no evidence"
            missing = f" missing: {', '.join(error['missing'])}" if error["missing"] else ""
            lines.append(
                f"{error['kind']}: {error['id']} {error['topic']} score {error['score']:.2f} "
                f"[{error['salience'] or 'not a subject'}] {error['words']} words{missing}"
                f"\n    «{error['headline'] or ''}»\n    {evidence}")
    return "\n".join(lines)
