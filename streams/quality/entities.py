"""Entity quality: recognition and linking against annotated texts."""


from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.problems import describe
from streams.nlp.datafiles import DataFileError, numbered_lines

if TYPE_CHECKING:
    pass

from streams.quality.scores import PRF

SCORED_LABELS = ("PER", "ORG", "LOC")


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
        for number, line in numbered_lines(lines):
            try:
                examples.append(EntityExample.model_validate_json(line))
            except ValidationError as exc:
                raise DataFileError(path, number, describe(exc, "line", limit=1)) from None
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
