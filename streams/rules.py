"""Watched-topic definitions: the YAML files in `streams/topic_definitions/`, schema, loader."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

RULES_DIR = Path(__file__).resolve().parent / "topic_definitions"

TopicName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,48}$")]


class RuleError(ValueError):
    """A mistake in a topic definition file, with the file and line where it is."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


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


class Pattern(BaseModel):
    """A weighted pattern on folded text (lower-case, no accents, ASCII apostrophes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    regex: Annotated[str, StringConstraints(min_length=1)]
    weight: float = Field(description="Evidence weight; negative for a hard-negative sense.")

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        return _check_regex(value)

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return _compile(self.regex)


class Requirement(BaseModel):
    """A group of patterns of which at least one must occur for the topic to match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    regex: str

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        return _check_regex(value)

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return _compile(self.regex)


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
    lead_boost: float = Field(
        default=1.5, ge=1.0, description="Multiplier for evidence in headline or lead paragraph."
    )
    requires: list[Requirement] = Field(default_factory=list)
    patterns: list[Pattern] = Field(min_length=1)


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path in the YAML document to its 1-based line number."""
    index: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                index[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                walk(item, (*path, position))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return index


def load_definition(path: Path) -> TopicDefinition:
    """Load and validate one topic file; a mistake raises `RuleError` with file and line."""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RuleError(path, mark.line + 1 if mark else None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RuleError(path, 1, "a topic file must be a mapping (topic:, patterns:, ...)")
    try:
        definition = TopicDefinition.model_validate(data)
    except ValidationError as exc:
        lines = _line_index(text)
        error = exc.errors(include_url=False)[0]
        loc = tuple(error["loc"])
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        field = ".".join(str(part) for part in loc) or "file"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RuleError(path, line, f"{field}: {error['msg']}{more}") from None
    if definition.topic != path.stem:
        raise RuleError(path, _line_index(text).get(("topic",)),
                        f"topic {definition.topic!r} must match the file name {path.stem!r}")
    return definition


def load_definitions(directory: Path = RULES_DIR) -> tuple[TopicDefinition, ...]:
    """All topic definitions of a folder, one `<topic>.yaml` each, sorted by topic."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise RuleError(directory, None, "no topic definition files (*.yaml) found")
    return tuple(load_definition(path) for path in paths)
