"""Quality measures: entity recognition and linking against hand-annotated texts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from streams.datafiles import DataFileError

SCORED_LABELS = ("PER", "ORG", "LOC")


@dataclass
class PRF:
    """Counts of one class, and the precision, recall and F1 they give."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 0.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        return self.true_positives + self.false_negatives

    def add(self, other: PRF) -> None:
        self.true_positives += other.true_positives
        self.false_positives += other.false_positives
        self.false_negatives += other.false_negatives

    def as_dict(self) -> dict[str, float | int]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "support": self.support,
                "true_positives": self.true_positives,
                "false_positives": self.false_positives,
                "false_negatives": self.false_negatives}


class GoldEntity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str
    label: str
    canonical: str | None = None


class EntityExample(BaseModel):
    """One annotated text of an entity evaluation file."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str
    entities: list[GoldEntity]
    id: str | None = None


def read_entity_examples(path: Path) -> list[EntityExample]:
    """Read an entity evaluation file (JSON lines); a bad line is reported with its number."""
    examples = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                examples.append(EntityExample.model_validate_json(line))
            except ValidationError as exc:
                error = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in error["loc"]) or "line"
                raise DataFileError(path, number, f"{where}: {error['msg']}") from None
    return examples


@dataclass(frozen=True)
class PredictedEntity:
    text: str
    label: str
    canonical: str | None
    wikidata_id: str | None


@dataclass
class EntityReport:
    """Scores over a set of annotated texts."""

    by_label: dict[str, PRF] = field(default_factory=lambda: {k: PRF() for k in SCORED_LABELS})
    linked_correctly: int = 0
    linkable: int = 0  # gold mentions whose canonical entity is in the gazetteer
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def overall(self) -> PRF:
        total = PRF()
        for counts in self.by_label.values():
            total.add(counts)
        return total

    @property
    def linking_accuracy(self) -> float:
        return self.linked_correctly / self.linkable if self.linkable else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels": {label: counts.as_dict() for label, counts in self.by_label.items()},
            "overall": self.overall.as_dict(),
            "linking": {"accuracy": round(self.linking_accuracy, 4),
                        "correct": self.linked_correctly, "linkable": self.linkable},
        }


def score_example(gold: Iterable[GoldEntity], predicted: Iterable[PredictedEntity],
                  known_canonicals: Mapping[str, str], report: EntityReport,
                  example_id: str | None = None) -> None:
    """Add one text's counts to `report`. Mentions match on exact text and label, as
    multisets (a name written twice must be found twice).

    `known_canonicals` maps the gazetteer's names and Wikidata ids to Wikidata ids: a gold
    mention whose canonical is among them is linkable, and is linked correctly when a
    predicted mention of the same text carries that id."""
    gold = [g for g in gold if g.label in SCORED_LABELS]
    predicted = [p for p in predicted if p.label in SCORED_LABELS]
    gold_counts = Counter((g.text, g.label) for g in gold)
    predicted_counts = Counter((p.text, p.label) for p in predicted)
    for label in SCORED_LABELS:
        counts = report.by_label[label]
        for key in set(gold_counts) | set(predicted_counts):
            if key[1] != label:
                continue
            hit = min(gold_counts[key], predicted_counts[key])
            counts.true_positives += hit
            counts.false_positives += predicted_counts[key] - hit
            counts.false_negatives += gold_counts[key] - hit
    missed = gold_counts - predicted_counts
    spurious = predicted_counts - gold_counts
    if missed or spurious:
        report.errors.append({"id": example_id,
                              "missed": sorted(f"{t} ({lab})" for t, lab in missed.elements()),
                              "spurious": sorted(f"{t} ({lab})"
                                                 for t, lab in spurious.elements())})

    predicted_ids = Counter((p.text, p.wikidata_id) for p in predicted if p.wikidata_id)
    for mention in gold:
        if mention.canonical is None or mention.canonical not in known_canonicals:
            continue
        report.linkable += 1
        key = (mention.text, known_canonicals[mention.canonical])
        if predicted_ids[key] > 0:
            predicted_ids[key] -= 1
            report.linked_correctly += 1


def format_entity_report(report: EntityReport, title: str) -> str:
    lines = [title, f"{'label':<8}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    rows = [*report.by_label.items(), ("overall", report.overall)]
    for name, counts in rows:
        lines.append(f"{name:<8}{counts.precision:>10.3f}{counts.recall:>10.3f}"
                     f"{counts.f1:>10.3f}{counts.support:>9}")
    lines.append(f"linking accuracy {report.linking_accuracy:.3f} "
                 f"({report.linked_correctly}/{report.linkable} gazetteer mentions)")
    return "\n".join(lines)


# --- topics ------------------------------------------------------------------------------------

class LabelledDispatch(BaseModel):
    """A line of a topic evaluation file: a Dispatch with the topics it belongs to."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    labels: list[str]


@dataclass
class TopicReport:
    """Per-topic precision, recall and F1, and the misclassified dispatches."""

    by_topic: dict[str, PRF]
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    false_negatives: list[dict[str, Any]] = field(default_factory=list)

    @property
    def macro_f1(self) -> float:
        return sum(c.f1 for c in self.by_topic.values()) / len(self.by_topic) if self.by_topic \
            else 0.0

    @property
    def macro_precision(self) -> float:
        return sum(c.precision for c in self.by_topic.values()) / len(self.by_topic) \
            if self.by_topic else 0.0

    @property
    def macro_recall(self) -> float:
        return sum(c.recall for c in self.by_topic.values()) / len(self.by_topic) \
            if self.by_topic else 0.0

    def add(self, dispatch_id: str, gold: set[str], predicted: Mapping[str, Any],
            explanations: Mapping[str, Any]) -> None:
        """Count one dispatch: `predicted` maps each predicted topic to its match, and
        `explanations` each topic to what its scoring found (for the misses)."""
        for topic, counts in self.by_topic.items():
            if topic in predicted and topic in gold:
                counts.true_positives += 1
            elif topic in predicted:
                counts.false_positives += 1
                self.false_positives.append({"id": dispatch_id, "topic": topic,
                                             **explanations[topic]})
            elif topic in gold:
                counts.false_negatives += 1
                self.false_negatives.append({"id": dispatch_id, "topic": topic,
                                             **explanations[topic]})

    def as_dict(self) -> dict[str, Any]:
        return {
            "topics": {topic: counts.as_dict() for topic, counts in self.by_topic.items()},
            "macro": {"precision": round(self.macro_precision, 4),
                      "recall": round(self.macro_recall, 4), "f1": round(self.macro_f1, 4)},
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
        }


def format_topic_report(report: TopicReport, title: str, *, show_errors: bool = True) -> str:
    lines = [title, f"{'topic':<16}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for topic, counts in report.by_topic.items():
        lines.append(f"{topic:<16}{counts.precision:>10.3f}{counts.recall:>10.3f}"
                     f"{counts.f1:>10.3f}{counts.support:>9}")
    lines.append(f"{'macro':<16}{report.macro_precision:>10.3f}{report.macro_recall:>10.3f}"
                 f"{report.macro_f1:>10.3f}")
    if show_errors:
        for kind, errors in (("false positive", report.false_positives),
                             ("false negative", report.false_negatives)):
            for error in errors:
                evidence = "; ".join(f"«{e['text']}» {e['rule']} {e['weight']:+.1f}"
                                     for e in error["evidence"][:6]) or "no evidence"
                missing = (f" missing: {', '.join(error['missing'])}"
                           if error["missing"] else "")
                lines.append(f"{kind}: {error['id']} {error['topic']} score "
                             f"{error['score']:.2f}{missing} | {evidence}")
    return "\n".join(lines)
