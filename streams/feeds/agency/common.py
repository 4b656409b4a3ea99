"""What every agency-format parser shares: the error and its reasons, the limits, and the
turning of the values read from a document into a validated `Dispatch`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas import Dispatch
from schemas.models import CONTROL_CHARACTER, MAX_BODY_CHARS, VISIBLE_CHARACTER
from schemas.problems import describe

# A wire document is tens of kilobytes; a NewsML-G2 newsMessage with many items a few
# hundred. Anything larger is refused before it is parsed.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024

REASONS = ("unsupported_format", "invalid_document", "unsafe_document", "too_large", "no_text")
UNSUPPORTED_FORMAT, INVALID_DOCUMENT, UNSAFE_DOCUMENT, TOO_LARGE, NO_TEXT = REASONS

# Subjects are an aid, not the dispatch: the model takes at most this many.
MAX_SUBJECTS = 200
_SHORT_TEXT_CHARS = 200

_CONTROL = re.compile(CONTROL_CHARACTER)
_VISIBLE = re.compile(VISIBLE_CHARACTER)
_DIGITS = re.compile(r"[0-9]{1,9}")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


class AgencyDocumentError(ValueError):
    """An agency document (or the one item of it) that yields no dispatch: a reason from
    `REASONS` and a message saying what is wrong and where."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        # The document's format, when it was recognised before the document was refused.
        self.format: str | None = None


@dataclass(frozen=True)
class ItemProblem:
    """One item of a multi-item document that yields no dispatch, and why."""

    item: str  # its guid, or its position when it has none
    reason: str  # from REASONS
    message: str


def shown(value: str, limit: int = 120) -> str:
    """A value from the document, quoted and cut short, for a message."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def collapse(text: str) -> str:
    """Whitespace runs (and control characters, which are not text) as one space."""
    return " ".join(_CONTROL.sub(" ", text).split())


def short_text(value: str | None) -> str | None:
    """A name or label collapsed to one line, or None when nothing is left."""
    if value is None:
        return None
    value = collapse(value)
    return value or None


def code_of(value: str | None) -> str | None:
    """The code of a qcode (`stat:usable` -> `usable`) or of a URI's last segment."""
    if not value:
        return None
    value = value.strip()
    for separator in (":", "/", "#"):
        value = value.rstrip(separator).rpartition(separator)[2]
    return value or None


def parse_count(value: object, what: str, where: str) -> int | None:
    """A count written as a JSON number or as digits (ninjs writes versions as strings);
    None when absent. Range checks are the model's."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, str):
        raise AgencyDocumentError(INVALID_DOCUMENT,
                                  f"{where}: {what} is not an integer: {shown(value, 40)}")
    raise AgencyDocumentError(INVALID_DOCUMENT,
                              f"{where}: {what} is a {type(value).__name__}, not an integer")


def parse_language(tag: str | None, where: str, looked_in: str) -> str:
    """The ISO 639 primary subtag of a language tag, lowercase: `en-GB` -> `en`. A dispatch
    has a language: an item that gives none is refused, naming where it was looked for."""
    if tag is None or not tag.strip():
        raise AgencyDocumentError(INVALID_DOCUMENT,
                                  f"{where}: no language given (looked in {looked_in})")
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    if not _LANGUAGE.fullmatch(primary):
        raise AgencyDocumentError(
            INVALID_DOCUMENT,
            f"{where}: language tag {shown(tag, 40)} has no ISO 639 primary subtag")
    return primary


def parse_timestamp(value: str | None, what: str, where: str) -> datetime | None:
    """An ISO 8601 date-time (extended or basic form, as NewsML 1.2 writes it), or None when
    absent or when it has no timezone: a zone-less time is not guessed to be UTC."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise AgencyDocumentError(
            INVALID_DOCUMENT,
            f"{where}: {what} {shown(value.strip(), 60)} is not an ISO 8601 date-time",
        ) from None
    return moment if moment.tzinfo is not None else None


def pub_status_of(value: str | None, where: str) -> str:
    """`usable`, `withheld` or `canceled` from a status code in any of the formats' spellings;
    usable when absent. An embargo is a usable item with a time, not a status of its own."""
    code = (code_of(value) or "usable").lower()
    status = {"usable": "usable", "embargoed": "usable", "withheld": "withheld",
              "canceled": "canceled", "cancelled": "canceled"}.get(code)
    if status is None:
        raise AgencyDocumentError(INVALID_DOCUMENT,
                                  f"{where}: unknown publication status {shown(value or '', 60)}")
    return status


def signal_of(codes: Iterable[str | None]) -> str | None:
    """`correction` when any code says so, else `update` when any does, else None."""
    found = {(code_of(code) or "").lower() for code in codes}
    if found & {"correction", "correct", "corrects", "rectify"}:
        return "correction"
    if found & {"update", "updates"}:
        return "update"
    return None


def clean_subjects(values: Iterable[str | None]) -> list[str]:
    """Subject codes or names: each once, in order, those the model can hold."""
    subjects: list[str] = []
    for value in values:
        subject = short_text(value)
        if subject and len(subject) <= _SHORT_TEXT_CHARS and subject not in subjects:
            subjects.append(subject)
            if len(subjects) == MAX_SUBJECTS:
                break
    return subjects


# What ends a dateline after the place and date: "(AFP) -", "(dpa) - ", "(AP) --".
_DATELINE_DASHES = " -:\u2010\u2011\u2012\u2013\u2014\u2015"


def parse_dateline(text: str | None) -> dict[str, str] | None:
    """City and country of a dateline as the agency wrote it ("Gaza City, Palestinian
    Territories, May 16, 2021 (AFP) -"); its date and credit (the agency in brackets)
    dropped. None when no place is left."""
    if text is None:
        return None
    line = collapse(text).rstrip(_DATELINE_DASHES)
    if line.endswith(")") and "(" in line:
        line = line[: line.rfind("(")].rstrip(_DATELINE_DASHES)
    parts = [part.strip() for part in line.split(",")]
    # Dates (or days) have digits: "May 16", "2021", "15 août".
    places = [part for part in parts if part and not any(char.isdigit() for char in part)]
    if not places:
        return None
    dateline = {"city": places[0]}
    if len(places) > 1:
        dateline["country"] = places[-1]
    return dateline


def located(city: str | None, country: str | None) -> dict[str, str] | None:
    """A dateline from separate place names (G2 `located`, NITF `location`)."""
    dateline = {key: value for key, value in (("city", short_text(city)),
                                              ("country", short_text(country))) if value}
    return dateline or None


def text_unless_killed(read_body: Callable[[], str], pub_status: str) -> str:
    """The body `read_body` gives; for a kill or a hold that carries none, "" (the dispatch
    then stands for its headline: see `build_dispatch`)."""
    try:
        return read_body()
    except AgencyDocumentError as error:
        if error.reason == NO_TEXT and pub_status != "usable":
            return ""
        raise


def build_dispatch(where: str, *, story_id: str | None, version: int | None, language: str,
                   body: str, headline: str | None = None, agency: str | None = None,
                   dateline: Mapping[str, str] | None = None,
                   published_at: datetime | None = None, urgency: int | None = None,
                   pub_status: str = "usable", signal: str | None = None,
                   subjects: list[str] | None = None) -> Dispatch:
    """The dispatch of one item, validated by the model; what the model refuses is an
    invalid document, a body over its limit a too-large one, no body no text. A kill or a
    hold need carry no text: it stands for its headline, or says what it is, so that it
    reaches the worker and retracts the story's alerts."""
    if not _VISIBLE.search(body) and pub_status != "usable":
        body = headline if headline and _VISIBLE.search(headline) else f"({pub_status})"
    if not _VISIBLE.search(body):
        raise AgencyDocumentError(NO_TEXT, f"{where}: the body holds no text")
    if len(body) > MAX_BODY_CHARS:
        raise AgencyDocumentError(TOO_LARGE, f"{where}: body of {len(body)} characters exceeds "
                                             f"the limit of {MAX_BODY_CHARS}")
    story_id = short_text(story_id)
    if story_id is None:
        raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: no identifier")
    version = 1 if version is None else version
    payload: dict[str, Any] = {
        "id": f"{story_id}:{version}",
        "story_id": story_id,
        "version": version,
        "language": language,
        "body": body,
        "headline": short_text(headline),
        "agency": short_text(agency),
        "dateline": dict(dateline) if dateline else None,
        "published_at": published_at,
        "urgency": urgency,
        "pub_status": pub_status,
        "signal": signal,
        "subjects": subjects or [],
    }
    _refuse_lone_surrogates(payload, where)
    try:
        return Dispatch.model_validate(payload)
    except ValidationError as error:
        raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: {describe(error, limit=10)}"
                                  ) from None


def _refuse_lone_surrogates(payload: Mapping[str, Any], where: str) -> None:
    """JSON can spell a lone UTF-16 surrogate (\\ud800) that no UTF-8 message can carry."""
    values: list[tuple[str, object]] = list(payload.items())
    while values:
        key, value = values.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise AgencyDocumentError(
                    INVALID_DOCUMENT, f"{where}: {key} holds a lone UTF-16 surrogate"
                ) from None
        elif isinstance(value, dict):
            values.extend((f"{key}.{inner}", item) for inner, item in value.items())
        elif isinstance(value, list):
            values.extend((key, item) for item in value)


def attempt(item: str, build: Callable[[], Dispatch]) -> Dispatch | ItemProblem:
    """One item of a multi-item document: its dispatch, or the problem that stops it."""
    try:
        return build()
    except AgencyDocumentError as error:
        return ItemProblem(item=item, reason=error.reason, message=error.message)


# At most this many item problems are spelt out in the message of a document that yields
# no dispatch at all.
_PROBLEMS_SHOWN = 10


def gather(results: list[Dispatch | ItemProblem], document: str
           ) -> tuple[list[Dispatch], list[ItemProblem]]:
    """The dispatches and problems of a document's items; a document with no dispatch at all
    is an error: its one item's own, or (for several) the first fault other than `no_text`."""
    dispatches = [result for result in results if isinstance(result, Dispatch)]
    problems = [result for result in results if isinstance(result, ItemProblem)]
    if dispatches:
        return dispatches, problems
    if not problems:
        raise AgencyDocumentError(NO_TEXT, f"{document} carries no items")
    if len(problems) == 1:
        raise AgencyDocumentError(problems[0].reason, problems[0].message)
    reason = next((problem.reason for problem in problems if problem.reason != NO_TEXT),
                  NO_TEXT)
    listed = "; ".join(problem.message for problem in problems[:_PROBLEMS_SHOWN])
    more = len(problems) - _PROBLEMS_SHOWN
    raise AgencyDocumentError(
        reason, f"{document}: none of its {len(problems)} items yields a dispatch: {listed}"
                + (f"; and {more} more" if more > 0 else ""))
