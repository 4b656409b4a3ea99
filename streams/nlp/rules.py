"""Watched-topic definitions: the YAML files in `streams/topic_definitions/`, schema, loader."""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
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

from streams.nlp.datafiles import DataFileError, parse_yaml_model

RULES_DIR = Path(__file__).resolve().parent / "topic_definitions"

TopicName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,48}$")]


class RuleError(DataFileError):
    """A mistake in a topic definition file, with the file and line where it is."""


def _compile(regex: str) -> re.Pattern[str]:
    # Word boundaries on both sides: a rule names whole words or word prefixes ("retir\w*").
    return re.compile(rf"(?<!\w)(?:{regex})(?!\w)")


_LEXICON_REF = re.compile(r"\{([a-z][a-z0-9_]*)\}")

# An upper-case letter that is not an escape such as \W or \S: it could never match.
_UPPERCASE_LITERAL = re.compile(r"(?<!\\)[A-ZÀ-Þ]")


def _check_regex(value: str) -> str:
    try:
        _compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if _UPPERCASE_LITERAL.search(value):
        raise ValueError("regex must be written in lower case: text is folded before matching")
    unknown = _LEXICON_REF.search(value)
    if unknown:
        raise ValueError(f"no lexicon entry named {unknown.group(1)!r}")
    return value


Regex = Annotated[str, StringConstraints(min_length=1), AfterValidator(_check_regex)]
WikidataId = Annotated[str, StringConstraints(pattern=r"^Q[1-9][0-9]*$")]


class Pattern(BaseModel):
    """Weighted evidence, matched within one sentence of folded text (lower case, no
    accents, ASCII apostrophes): a phrase (`regex`), or parts that must all occur in the same
    sentence (`all_of`, e.g. a verb of leaving and a word for troops), at most `within` words
    apart when it is set. `{name}` in an expression stands for the definition's lexicon entry
    `name`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    # Finite: the weight is written into alerts as evidence, and JSON has no infinity.
    weight: float = Field(allow_inf_nan=False,
                          description="Evidence weight; negative for a hard-negative sense.")
    regex: Regex | None = None
    all_of: list[Regex] | None = Field(default=None, min_length=2)
    within: int | None = Field(
        default=None, ge=0, le=40,
        description="With `all_of`: at most this many words between the parts. Syntax "
                    "binds a verb to its subject or object nearby; a sentence-wide "
                    "co-occurrence is mostly chance.")
    substantive: bool = Field(
        default=False,
        description="A sentence that matches makes the topic a subject of the dispatch, even "
                    "outside headline and lead (e.g. naming it as an item on an agenda).")

    @model_validator(mode="after")
    def _one_form(self) -> Pattern:
        if (self.regex is None) == (self.all_of is None):
            raise ValueError("a pattern has either `regex` or `all_of`, not both or neither")
        if self.within is not None and self.all_of is None:
            raise ValueError("`within` goes with `all_of`")
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


class Salience(BaseModel):
    """When a topic is a substantive subject of a dispatch rather than a passing mention:
    evidence of at least `min_weight` in the headline or the lead, or sustained through the
    body: in at least `body_min_paragraphs` paragraphs and `body_min_share` of them, or in
    `body_paragraphs_any_share` paragraphs however long the piece; or, where
    `mentioned_paragraphs` is set, one body paragraph that reports it and that many that
    name it (evidence of at least `weak_weight`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_weight: float = Field(default=2.0, gt=0,
                              description="Weight of a sentence that names the topic.")
    lead_words: int = Field(default=70, ge=10,
                            description="The lead is the first paragraph, at most this many "
                                        "words in (a dateline-only paragraph takes the next).")
    body_min_paragraphs: int = Field(default=2, ge=1)
    body_min_share: float = Field(default=0.2, gt=0.0, le=1.0)
    body_paragraphs_any_share: int = Field(default=3, ge=1)
    weak_weight: float = Field(default=1.0, gt=0)
    mentioned_paragraphs: int | None = Field(
        default=None, ge=2,
        description="A subject too when one body paragraph reports it and at least this "
                    "many name it (evidence of `weak_weight`): for topics whose weak cues "
                    "are their own words (\"retrait\"), not names met in passing.")
    unsalient_factor: float = Field(
        default=0.2, ge=0.0, le=1.0,
        description="What the evidence of a topic that is not a subject counts.")
    secondary_factor: float = Field(
        default=0.6, ge=0.0, le=1.0,
        description="What evidence counts when the topic is a subject only in the body: "
                    "a secondary subject ranks below the one in the headline or lead.")


class Background(BaseModel):
    """Words that make the evidence right after them a time reference or a setting, and
    what that evidence then counts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regex: Regex
    factor: float = Field(ge=0.0, le=1.0)

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        # Anchored at the end: the marker must stand right before the evidence.
        return re.compile(rf"(?<!\w)(?:{self.regex})\W*$")


def _expand_lexicon(raw: object) -> object:
    """Replace `{name}` in a definition's expressions by its lexicon entry, before validation,
    so that every expression is checked (and reported) as it will run."""
    if not isinstance(raw, dict) or not isinstance(raw.get("lexicon"), dict):
        return raw
    lexicon = {name: str(value) for name, value in raw["lexicon"].items()}

    def expand(expression: object, depth: int = 0) -> object:
        if not isinstance(expression, str) or depth > 5:
            return expression

        def substitute(found: re.Match[str]) -> str:
            name = found.group(1)
            if name not in lexicon:
                # Left as is: the regex check then reports it as an unknown lexicon entry.
                return found.group(0)
            return f"(?:{expand(lexicon[name], depth + 1)})"
        return _LEXICON_REF.sub(substitute, expression)

    expanded = dict(raw)
    for key in ("patterns", "requires"):
        items = raw.get(key)
        if isinstance(items, list):
            expanded[key] = [
                {**item, **{field: ([expand(e) for e in item[field]]
                                    if isinstance(item[field], list) else expand(item[field]))
                            for field in ("regex", "all_of") if field in item}}
                if isinstance(item, dict) else item for item in items]
    if isinstance(raw.get("background"), list):
        expanded["background"] = [{**item, "regex": expand(item["regex"])}
                                  if isinstance(item, dict) and "regex" in item else item
                                  for item in raw["background"]]
    return expanded


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
    salience: Salience = Salience()
    background: list[Background] = Field(
        default_factory=list,
        description="Words that make the evidence right after them a time reference or "
                    "setting (\"depuis le retrait\", \"après le départ des troupes\").")
    lexicon: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")], str] = Field(
        default_factory=dict,
        description="Named alternations, written `{name}` in patterns: one list of troop "
                    "words for every pattern that needs it.")
    requires: list[Requirement] = Field(default_factory=list)
    patterns: list[Pattern] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _lexicon_expanded(cls, raw: object) -> object:
        return _expand_lexicon(raw)

    def background_factor(self, folded: str, start: int) -> float | None:
        """What evidence starting at `start` counts when a background marker stands right
        before it (the smallest factor of those that do); None when none does."""
        factors = [b.factor for b in self.background
                   if b.compiled.search(folded, max(0, start - 80), start)]
        return min(factors) if factors else None


def load_definition(path: Path) -> TopicDefinition:
    """Load and validate one topic file; a mistake raises `RuleError` with file and line."""
    return parse_definition(path.read_text(encoding="utf-8"), path, path.stem)


def parse_definition(text: str, source: Path, name: str) -> TopicDefinition:
    """Validate a definition's YAML text, named `name` (its file's stem, or its key on the
    watches topic); a mistake raises `RuleError` naming `source` and the line."""
    try:
        definition, lines = parse_yaml_model(text, source, TopicDefinition)
    except DataFileError as exc:
        raise RuleError(exc.path, exc.line, exc.message) from None
    if definition.topic != name:
        raise RuleError(source, lines.get(("topic",)),
                        f"topic {definition.topic!r} must match the name {name!r}")
    return definition


def load_definitions(directory: Path = RULES_DIR) -> tuple[TopicDefinition, ...]:
    """All topic definitions of a folder, one `<topic>.yaml` each, sorted by topic."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise RuleError(directory, None, "no topic definition files (*.yaml) found")
    return tuple(load_definition(path) for path in paths)


@lru_cache(maxsize=1)
def watched_topics() -> tuple[str, ...]:
    """The watched topics of the shipped definitions, sorted: the one list code, tests and
    benchmarks use."""
    return tuple(d.topic for d in load_definitions())
