"""What a pydantic validation error says, as lines a person can act on: one way for every
input wirewatch validates (messages, feeds, data files, settings)."""

from __future__ import annotations

from pydantic import ValidationError


def validation_problems(error: ValidationError, limit: int | None = None
                        ) -> list[tuple[tuple[str | int, ...], str]]:
    """Each problem as (location, message). Inputs are never included: a setting's value may
    be a secret, and a message's a megabyte."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False)[:limit]:
        problems.append((tuple(problem["loc"]),
                         str(problem["msg"]).removeprefix("Value error, ")))
    return problems


def where(location: tuple[str | int, ...], whole: str = "value") -> str:
    """A location as a dotted field path ("dateline.city"), or `whole` for the value itself."""
    return ".".join(str(part) for part in location) or whole


def describe(error: ValidationError, whole: str = "value", limit: int | None = None) -> str:
    """All problems on one line: "body: Field required; language: ..."."""
    return "; ".join(f"{where(location, whole)}: {message}"
                     for location, message in validation_problems(error, limit))
