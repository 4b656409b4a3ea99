"""Watched-topic definitions: the YAML files in `streams/topic_definitions/`, schema, loader."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from streams.datafiles import DataFileError, load_yaml_model

RULES_DIR = Path(__file__).resolve().parent / "topic_definitions"

TopicName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,48}$")]


class RuleError(DataFileError):
    """A mistake in a topic definition file, with the file and line where it is."""


def _compile(regex: str) -> re.Pattern[str]:
    # Word boundaries on both sides: a rule names whole words or word prefixes ("retir\w*").
    return re.compile(rf"(?<!\w)(?:{regex})(?!\w)")


# An upper-case letter that is not an escape such as \W or \S: it could never match.
_UPPERCASE_LITERAL = re.compile(r"(?<!\\)[A-ZÀ-Þ]")


def _check_regex(value: str) -> str:
    try:
        _compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if _UPPERCASE_LITERAL.search(value):
        raise ValueError("regex must be written in lower case: text is folded before matching")
    return value


Regex = Annotated[str, StringConstraints(min_length=1), AfterValidator(_check_regex)]
WikidataId = Annotated[str, StringConstraints(pattern=r"^Q[1-9][0-9]*$")]


class Pattern(BaseModel):
    """Weighted evidence, matched within one sentence of folded text (lower case, no
    accents, ASCII apostrophes): a phrase (`regex`), or words that must all occur in the same
    sentence (`all_of`, e.g. a verb of leaving and a word for troops)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    # Finite: the weight is written into alerts as evidence, and JSON has no infinity.
    weight: float = Field(allow_inf_nan=False,
                          description="Evidence weight; negative for a hard-negative sense.")
    regex: Regex | None = None
    all_of: list[Regex] | None = Field(default=None, min_length=2)
    substantive: bool = Field(
        default=False,
        description="A sentence that matches makes the topic a subject of the dispatch, even "
                    "outside headline and lead (e.g. naming it as an item on an agenda).")

    @model_validator(mode="after")
    def _one_form(self) -> Pattern:
        if (self.regex is None) == (self.all_of is None):
            raise ValueError("a pattern has either `regex` or `all_of`, not both or neither")
        return self

    @cached_property
    def expressions(self) -> tuple[str, ...]:
        """The expressions that must all match in one sentence (one for a `regex`)."""
        return (self.regex,) if self.regex else tuple(self.all_of or ())

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_compile(r) for r in self.expressions)


class Requirement(BaseModel):
    """Something the dispatch must name for the topic to apply: a phrase of `regex`, or one
    of the linked `entities` (Wikidata ids found by the entity pipeline)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    regex: Regex | None = None
    entities: frozenset[WikidataId] = frozenset()

    @model_validator(mode="after")
    def _something(self) -> Requirement:
        if self.regex is None and not self.entities:
            raise ValueError("a requirement needs `regex`, `entities` or both")
        return self

    @cached_property
    def compiled(self) -> re.Pattern[str] | None:
        return _compile(self.regex) if self.regex else None


class Positions(BaseModel):
    """How much evidence counts by where it stands: a subject is in the headline and lead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    headline: float = Field(default=2.0, ge=0)
    lead: float = Field(default=1.5, ge=0)
    body: float = Field(default=1.0, ge=0)


class TopicDefinition(BaseModel):
    """One watched topic: its patterns, requirements, and when it is worth an alert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: TopicName
    version: Annotated[str, StringConstraints(min_length=1)]
    description: str
    threshold: float = Field(gt=0.0, lt=1.0, description="Alert when score >= threshold.")
    saturation: float = Field(
        gt=0.0, description="Evidence weight at which the score reaches 1 - 1/e (0.63)."
    )
    positions: Positions = Positions()
    min_sentences: int = Field(
        default=2, ge=1,
        description="Evidence in fewer sentences, none in headline or lead, is a passing "
                    "mention.")
    passing_mention_factor: float = Field(
        default=0.3, ge=0.0, le=1.0, description="What a passing mention's evidence counts.")
    secondary_factor: float = Field(
        default=0.7, ge=0.0, le=1.0,
        description="What evidence counts when none of it is in the headline or lead: a "
                    "secondary subject of the dispatch ranks below its main subject.")
    requires: list[Requirement] = Field(default_factory=list)
    patterns: list[Pattern] = Field(min_length=1)



def load_definition(path: Path) -> TopicDefinition:
    """Load and validate one topic file; a mistake raises `RuleError` with file and line."""
    try:
        definition, lines = load_yaml_model(path, TopicDefinition)
    except DataFileError as exc:
        raise RuleError(exc.path, exc.line, exc.message) from None
    if definition.topic != path.stem:
        raise RuleError(path, lines.get(("topic",)),
                        f"topic {definition.topic!r} must match the file name {path.stem!r}")
    return definition


def load_definitions(directory: Path = RULES_DIR) -> tuple[TopicDefinition, ...]:
    """All topic definitions of a folder, one `<topic>.yaml` each, sorted by topic."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise RuleError(directory, None, "no topic definition files (*.yaml) found")
    return tuple(load_definition(path) for path in paths)
