"""Reading feeds: agency text files (with their header line) and JSON lines of dispatches."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from schemas import Dateline, Dispatch
from schemas.problems import describe

# `date 2021-04 Bruxelles, Belgique | AFP | mercredi 14/04/2021 - Le chef de ...`
_HEADER = re.compile(
    r"""^\s*date\s+(?P<month>\d{4}-\d{2})\s+
        (?P<dateline>[^|]*?)\s*\|\s*
        (?P<agency>[^|]*?)\s*\|\s*
        (?:(?P<weekday>[^\W\d_]+)\s+)?(?P<date>\d{1,2}/\d{1,2}/\d{4})
        \s+[-\u2013\u2014]\s+(?P<lead>.*)$""",
    re.VERBOSE | re.DOTALL,
)
# Web news crawls carry a shorter header: only the month, then the article (often its
# headline as the first paragraph).
_MONTH_HEADER = re.compile(r"^\s*date\s+(?P<month>\d{4}-\d{2})(?:\s+|$)(?P<rest>.*)$", re.DOTALL)
_BLANK_LINES = re.compile(r"\n\s*\n+")
_SENTENCE_END = tuple(".!?…:;»\"")
# A first paragraph at most this long, not ending like a sentence, is taken for the headline
# of a web crawl (the schema's own limit on headlines, MAX_HEADLINE_CHARS, is far larger).
HEADLINE_GUESS_MAX_CHARS = 200
_SEQUENCE_PREFIX = re.compile(r"^\d+_")

FEED_SUFFIXES = (".jsonl", ".ndjson", ".json", ".txt", ".xml")


class FeedError(ValueError):
    """A feed item that cannot become a `Dispatch`; says where and why."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = message


def _normalise_body(text: str) -> str:
    """Paragraphs separated by one blank line, each stripped; the wire's padding removed."""
    paragraphs = (" ".join(p.split()) for p in _BLANK_LINES.split(text.strip()))
    return "\n\n".join(p for p in paragraphs if p)


def parse_header_dispatch(text: str, dispatch_id: str, source: str = "<text>") -> Dispatch:
    """Parse a dispatch whose first line is a wire header.

    The agency header gives the month, the dateline (city, country), the agency and the
    date; the rest of the first line after " - " is the lead, which starts the body. A
    header of the month alone (`date 2021-04 ...`, as web crawls have it) is followed
    directly by the article. Raises `FeedError` naming what is wrong in a malformed header.
    """
    first_line, _, rest = text.lstrip("\ufeff").partition("\n")
    month_only = _MONTH_HEADER.match(first_line)
    if month_only and "|" not in first_line:
        return _parse_month_header(month_only["month"], month_only["rest"] + "\n" + rest,
                                   dispatch_id, source)
    if not first_line.strip().lower().startswith("date"):
        raise FeedError(source, "header line must start with 'date YYYY-MM', e.g. "
                        "'date 2021-04 Bruxelles, Belgique | AFP | mercredi 14/04/2021 - ...'")
    match = _HEADER.match(first_line)
    if match is None:
        if first_line.count("|") < 2:
            raise FeedError(source, "header needs 'dateline | agency | date - lead', "
                            f"found {first_line.count('|')} '|' separator(s)")
        raise FeedError(source, "header does not read 'date YYYY-MM City, Country | AGENCY | "
                        "weekday DD/MM/YYYY - lead'")
    try:
        day = datetime.strptime(match["date"], "%d/%m/%Y").replace(tzinfo=UTC)
    except ValueError:
        raise FeedError(source, f"header date {match['date']!r} is not a real DD/MM/YYYY date")\
            from None
    if day.strftime("%Y-%m") != match["month"]:
        raise FeedError(source, f"header month {match['month']} disagrees with its date "
                        f"{match['date']}")
    agency = match["agency"].strip()
    if not agency:
        raise FeedError(source, "header names no agency between the '|' separators")
    city, _, country = match["dateline"].rpartition(",")
    if not city:  # no comma: a bare city
        city, country = country, ""
    dateline = Dateline(city=city.strip() or None, country=country.strip() or None)
    body = _normalise_body(match["lead"] + "\n" + rest)
    if not body:
        raise FeedError(source, "dispatch has a header but no text")
    try:
        return Dispatch(
            id=dispatch_id,
            language="fr",
            body=body,
            agency=agency,
            dateline=dateline if (dateline.city or dateline.country) else None,
            # The wire header gives the day only; midnight UTC stands for "that day".
            published_at=day,
        )
    except ValidationError as exc:
        raise FeedError(source, describe(exc, "message")) from None


def _parse_month_header(month: str, text: str, dispatch_id: str, source: str) -> Dispatch:
    """`date 2021-04 <headline>\n\n<body>`: a month, then the article. A short first
    paragraph that does not end like a sentence is taken as the headline."""
    try:
        datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise FeedError(source, f"header month {month!r} is not a real YYYY-MM month") from None
    paragraphs = _normalise_body(text).split("\n\n")
    headline = None
    first = paragraphs[0]
    if (len(paragraphs) > 1 and len(first) <= HEADLINE_GUESS_MAX_CHARS
            and not first.endswith(_SENTENCE_END)):
        headline = paragraphs.pop(0)
    body = "\n\n".join(paragraphs)
    if not body:
        raise FeedError(source, "dispatch has a header but no text")
    try:
        return Dispatch(id=dispatch_id, language="fr", body=body, headline=headline)
    except ValidationError as exc:
        raise FeedError(source, describe(exc, "message")) from None


def dispatch_id_for_file(path: Path) -> str:
    """`000_702952208b099811.txt` -> `702952208b099811`: the id is the name after its sequence."""
    return _SEQUENCE_PREFIX.sub("", path.stem) or hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def parse_dispatch_json(raw: bytes | str, source: str = "<json>") -> Dispatch:
    """Validate one JSON document as a `Dispatch`, with an error message a person can act on."""
    try:
        return Dispatch.model_validate_json(raw)
    except ValidationError as exc:
        raise FeedError(source, describe(exc, "message")) from None


@dataclass(frozen=True)
class FeedItem:
    """One item of a feed: a dispatch, an agency document (NewsML-G2, NewsML 1.2, ninjs,
    NITF: for the raw topic, where the worker reads it), or the error that kept a line from
    being a dispatch."""

    source: str
    dispatch: Dispatch | None = None
    error: FeedError | None = None
    document: bytes | None = None


def iter_feed_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files of a feed: the files given, and the feed files of the folders given, by name."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in FEED_SUFFIXES)
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"no such feed file or folder: {path}")


def is_agency_document(path: Path) -> bool:
    """An XML file, or a .json file holding one JSON object that is not a dispatch (ninjs,
    say), rather than JSON lines of dispatches."""
    if path.suffix == ".xml":
        return True
    if path.suffix != ".json":
        return False
    try:
        document = json.loads(path.read_bytes())
    except ValueError:
        return False  # JSON lines (or broken JSON, reported line by line)
    return isinstance(document, dict) and not {"id", "body"} <= document.keys()


def read_feed(paths: Iterable[Path]) -> Iterator[FeedItem]:
    """Every item of the feed files, in order; bad items are yielded with their error."""
    for path in iter_feed_files(paths):
        if is_agency_document(path):
            yield FeedItem(str(path), document=path.read_bytes())
            continue
        if path.suffix == ".txt":
            source = str(path)
            try:
                text = path.read_text(encoding="utf-8")
                yield FeedItem(source, parse_header_dispatch(text, dispatch_id_for_file(path),
                                                             source))
            except UnicodeDecodeError as exc:
                yield FeedItem(source, error=FeedError(source, f"not UTF-8 text: {exc.reason}"))
            except FeedError as exc:
                yield FeedItem(source, error=exc)
            continue
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                source = f"{path}:{number}"
                try:
                    yield FeedItem(source, parse_dispatch_json(line, source))
                except FeedError as exc:
                    yield FeedItem(source, error=exc)

