"""Reading agency JSON (ninjs, dpa digitalwires): the document as an object, and its fields
with the types the formats give them, or an error naming the field."""

from __future__ import annotations

import json
from typing import Any

from streams.feeds.agency.common import INVALID_DOCUMENT, AgencyDocumentError


def load_object(raw: bytes, not_an_object: str = INVALID_DOCUMENT) -> dict[str, Any]:
    """The JSON object of a document (UTF-8, -16 or -32, as RFC 8259 allows); another JSON
    value is an error with the reason given."""
    try:
        document = json.loads(raw)
    except RecursionError:
        raise AgencyDocumentError(INVALID_DOCUMENT, "JSON nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise AgencyDocumentError(INVALID_DOCUMENT, f"not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise AgencyDocumentError(not_an_object, f"the JSON document is a "
                                                 f"{type(document).__name__}, not an object")
    return document


def field(document: dict[str, Any], *names: str) -> tuple[str, Any]:
    """The first of these fields (spellings of one field across versions) that is present
    and not null, with its name; ("", None) when none is."""
    for name in names:
        value = document.get(name)
        if value is not None:
            return name, value
    return "", None


def string(document: dict[str, Any], where: str, *names: str) -> str | None:
    """A string field (any of its spellings), or None when absent."""
    name, value = field(document, *names)
    if value is None or isinstance(value, str):
        return value
    raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: {name} is a "
                                                f"{type(value).__name__}, not a string")


def objects(document: dict[str, Any], where: str, *names: str) -> list[dict[str, Any]]:
    """A list-of-objects field (any of its spellings); [] when absent."""
    name, value = field(document, *names)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: {name} is not a list of objects")
    return value


def item_string(item: dict[str, Any], where: str, name: str) -> str | None:
    """A string member of an object in a list (a body's value, a subject's name)."""
    value = item.get(name)
    if value is None or isinstance(value, str):
        return value
    raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: {name} is a "
                                                f"{type(value).__name__}, not a string")
