"""IPTC ninjs (news in JSON), versions 1.x (`headline`, `body_*`), 2.x (`headlines`,
`bodies`) and 3.x (the same, in camelCase: `versionCreated`, `pubStatus`, `contentType`)."""

from __future__ import annotations

from typing import Any

from schemas import Dispatch
from streams.feeds.agency.common import (
    INVALID_DOCUMENT,
    NO_TEXT,
    AgencyDocumentError,
    ItemProblem,
    build_dispatch,
    clean_subjects,
    parse_count,
    parse_dateline,
    parse_language,
    parse_timestamp,
    pub_status_of,
    shown,
    signal_of,
    text_unless_killed,
)
from streams.feeds.agency.jsondoc import field, item_string, objects, string
from streams.feeds.agency.text import html_text, plain_text

# ninjs `type`s that are not text (a composite, such as a text with its pictures, is read
# for its text).
NON_TEXT_TYPES = frozenset({"picture", "graphic", "audio", "video", "event", "planning"})
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml")
# ninjs 1.x bodies, by preference: markup keeps the paragraphs that text bodies often lose.
_HTML_BODIES = ("body_xhtml", "body_html", "body_richtext")
_TEXT_BODIES = ("body_text", "body_main")


def parse_ninjs(document: dict[str, Any]) -> tuple[list[Dispatch], list[ItemProblem]]:
    """The dispatch of a ninjs object (one news item per document)."""
    uri = string(document, "ninjs item", "uri")
    where = f"ninjs item {shown(uri)}" if uri else "ninjs item"
    kind = string(document, where, "type")
    if kind and kind.lower() in NON_TEXT_TYPES:
        raise AgencyDocumentError(NO_TEXT, f"{where}: type {shown(kind, 40)} is not text")
    pub_status = pub_status_of(string(document, where, "pubstatus", "pubStatus"), where)
    body = text_unless_killed(lambda: _body(document, where), pub_status)
    if not uri:
        raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: no uri")
    _, signals = field(document, "signal", "signals")
    if isinstance(signals, str):
        signals = [signals]
    return [build_dispatch(
        where,
        story_id=uri,
        version=parse_count(field(document, "version")[1], "version", where),
        language=parse_language(string(document, where, "language"), where, "language"),
        body=body,
        headline=_headline(document, where),
        agency=string(document, where, "copyrightholder", "copyrightHolder"),
        dateline=parse_dateline(string(document, where, "located")),
        published_at=(parse_timestamp(string(document, where, "versioncreated",
                                             "versionCreated"), "versioncreated", where)
                      or parse_timestamp(string(document, where, "firstcreated",
                                                "firstCreated"), "firstcreated", where)),
        urgency=parse_count(field(document, "urgency")[1], "urgency", where),
        pub_status=pub_status,
        signal=signal_of(value for value in (signals if isinstance(signals, list) else ())
                         if isinstance(value, str)),
        subjects=clean_subjects(_subjects(document, where)),
    )], []


def _headline(document: dict[str, Any], where: str) -> str | None:
    headlines = objects(document, where, "headlines")
    for headline in headlines:
        if (item_string(headline, where, "role") or "").lower() == "main":
            return item_string(headline, where, "value")
    if headlines:
        return item_string(headlines[0], where, "value")
    named = sorted(key for key in document if key.startswith("headline_"))
    return string(document, where, "headline", "headline_main", *named)


def _body(document: dict[str, Any], where: str) -> str:
    """The text of the item's body: an HTML one when there is one (its paragraphs are
    marked), else a text one."""
    candidates: list[tuple[bool, str]] = []  # (is HTML, value)
    for body in objects(document, where, "bodies"):
        value = item_string(body, where, "value")
        if not value:
            continue
        contenttype = (item_string(body, where, "contenttype")
                       or item_string(body, where, "contentType") or "").lower()
        if contenttype.startswith(_HTML_TYPES):
            candidates.append((True, value))
        elif contenttype.startswith("text/plain"):
            candidates.append((False, value))
        elif not contenttype:
            candidates.append((value.lstrip().startswith("<"), value))
    others = sorted(key for key in document if key.startswith("body_")
                    and key not in _HTML_BODIES + _TEXT_BODIES)
    for key in (*_HTML_BODIES, *_TEXT_BODIES, *others):
        value = string(document, where, key)
        if value:
            markup = key in _HTML_BODIES or (key not in _TEXT_BODIES
                                             and value.lstrip().startswith("<"))
            candidates.append((markup, value))
    candidates.sort(key=lambda candidate: not candidate[0])  # stable: HTML first
    for markup, value in candidates:
        text = html_text(value) if markup else plain_text(value)
        if text:
            return text
    raise AgencyDocumentError(NO_TEXT, f"{where}: no body (bodies, body_text, body_xhtml, "
                                       f"body_html); descriptions are not read as one")


def _subjects(document: dict[str, Any], where: str) -> list[str | None]:
    """Subject codes (literal, code) or else names or URIs, as the item gives them."""
    found: list[str | None] = []
    for subject in objects(document, where, "subjects", "subject"):
        found.append(next((value for value in (item_string(subject, where, name)
                                               for name in ("literal", "code", "name", "uri"))
                           if value and value.strip()), None))
    return found
