"""Loading YAML data files (topic definitions, gazetteer) into pydantic models, with errors
that name the file and the line of the mistake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from schemas.problems import validation_problems, where

ModelT = TypeVar("ModelT", bound=BaseModel)


class DataFileError(ValueError):
    """A mistake in a data file, with the file and (when known) the line where it is."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.message = message


def line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path of a YAML document (("patterns", 3, "regex")) to its 1-based line."""
    index: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index.setdefault(path, node.start_mark.line + 1)
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


def line_of(lines: dict[tuple[Any, ...], int], location: tuple[Any, ...]) -> int | None:
    """The line of `location`, or of its nearest parent that has one."""
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return None


def load_yaml_model(path: Path, model: type[ModelT]) -> tuple[ModelT, dict[tuple[Any, ...], int]]:
    """Parse and validate a YAML file as `model`; return it with its line index."""
    return parse_yaml_model(path.read_text(encoding="utf-8"), path, model)


def parse_yaml_model(text: str, path: Path, model: type[ModelT]
                     ) -> tuple[ModelT, dict[tuple[Any, ...], int]]:
    """Parse and validate YAML text as `model` (errors name `path`, where the text came from:
    a file, or a record of a topic); return it with its line index."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DataFileError(path, mark.line + 1 if mark else None,
                            f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DataFileError(path, 1, f"expected a mapping of {model.__name__} fields")
    lines = line_index(text)
    try:
        return model.model_validate(data), lines
    except ValidationError as exc:
        [(location, message)] = validation_problems(exc, limit=1)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise DataFileError(path, line_of(lines, location),
                            f"{where(location, 'file')}: {message}{more}") from None


def numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a JSON-lines stream, with their 1-based line numbers (for
    errors that say where)."""
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line
