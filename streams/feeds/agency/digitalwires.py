"""dpa digitalwires: dpa's own JSON wire format (the entries of its wireQ API)."""

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
)
from streams.feeds.agency.jsondoc import field, item_string, objects, string
from streams.feeds.agency.text import html_text

# Categories that say what the entry is about (as the G2 conversion's subjects do): the
# desk (dpacat), dpa subjects and places. Wires, creators, genre and the like are not.
_SUBJECT_CATEGORIES = frozenset({"dnltype:desk", "dnltype:dpasubject", "dnltype:geosubject"})
_NON_TEXT_TYPES = frozenset({"picture", "image", "graphic", "audio", "video"})


def is_digitalwires(document: dict[str, Any]) -> bool:
    """Whether a JSON object is a digitalwires entry rather than a ninjs item."""
    declared = document.get("format")
    return (isinstance(declared, str) and declared.startswith("digitalwires")) or (
        "entry_id" in document and "urn" in document)


def parse_digitalwires(document: dict[str, Any]) -> tuple[list[Dispatch], list[ItemProblem]]:
    """The dispatch of a digitalwires entry: its article (and infobox) as the body."""
    urn = string(document, "digitalwires entry", "urn")
    where = f"digitalwires entry {shown(urn)}" if urn else "digitalwires entry"
    kind = string(document, where, "type")
    if kind and kind.lower() in _NON_TEXT_TYPES:
        raise AgencyDocumentError(NO_TEXT, f"{where}: type {shown(kind, 40)} is not text")
    html = "".join(part for part in (string(document, where, "article_html"),
                                     string(document, where, "infobox_html")) if part)
    body = html_text(html)
    if not body:
        raise AgencyDocumentError(NO_TEXT, f"{where}: no article_html")
    if not urn:
        raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: no urn")
    categories = objects(document, where, "categories")
    provider = next((item_string(category, where, "name") for category in categories
                     if _category_type(category) == "dnltype:provider"), None)
    return [build_dispatch(
        where,
        story_id=urn,
        version=parse_count(field(document, "version")[1], "version", where),
        language=parse_language(string(document, where, "language"), where, "language"),
        body=body,
        headline=string(document, where, "headline"),
        agency=provider or "dpa",
        dateline=parse_dateline(string(document, where, "dateline")),
        published_at=(parse_timestamp(string(document, where, "version_created"),
                                      "version_created", where)
                      or parse_timestamp(string(document, where, "updated"), "updated",
                                         where)),
        urgency=parse_count(field(document, "urgency")[1], "urgency", where),
        pub_status=pub_status_of(string(document, where, "pubstatus"), where),
        signal=signal_of([string(document, where, "signal")]),
        subjects=clean_subjects(item_string(category, where, "qcode")
                                or item_string(category, where, "name")
                                for category in categories
                                if _category_type(category) in _SUBJECT_CATEGORIES),
    )], []


def _category_type(category: dict[str, Any]) -> str:
    kind = category.get("type")
    return kind if isinstance(kind, str) else ""
