"""Agency documents as they come off the wire (NewsML-G2, NewsML 1.2, ninjs, NITF, dpa
digitalwires) turned into `Dispatch`es, or refused with a reason and a precise message.

Every document is untrusted: it is refused by size before it is parsed, XML is read without
entities, external references or network access (a DOCTYPE may name its DTD, which is never
loaded) and to a bounded depth, and HTML bodies by the standard library's HTML parser, which
expands nothing. `read_agency_document` raises nothing but `AgencyDocumentError`, whatever
the bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas import Dispatch
from streams.feeds.agency.common import (
    INVALID_DOCUMENT,
    MAX_DOCUMENT_BYTES,
    REASONS,
    TOO_LARGE,
    UNSAFE_DOCUMENT,
    UNSUPPORTED_FORMAT,
    AgencyDocumentError,
    ItemProblem,
    shown,
)
from streams.feeds.agency.digitalwires import is_digitalwires, parse_digitalwires
from streams.feeds.agency.g2 import G2_ROOTS, parse_g2
from streams.feeds.agency.jsondoc import load_object
from streams.feeds.agency.newsml12 import parse_newsml12
from streams.feeds.agency.ninjs import parse_ninjs
from streams.feeds.agency.nitf import parse_nitf
from streams.feeds.agency.xmlsafe import MAX_XML_DEPTH, parse_xml, sniff_root

__all__ = [
    "FORMATS",
    "MAX_DOCUMENT_BYTES",
    "MAX_XML_DEPTH",
    "REASONS",
    "AgencyDocument",
    "AgencyDocumentError",
    "ItemProblem",
    "detect_format",
    "parse_agency_document",
    "read_agency_document",
]

FORMATS = ("newsml-g2", "newsml-1.2", "ninjs", "nitf", "dpa-digitalwires")
_XML_FORMATS = {"newsml-g2": parse_g2, "newsml-1.2": parse_newsml12, "nitf": parse_nitf}
_JSON_FORMATS = {"ninjs": parse_ninjs, "dpa-digitalwires": parse_digitalwires}
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def detect_format(raw: bytes, declared: str | None = None) -> str:
    """The format of a document: the declared one (a message header) when given, which must
    be one of `FORMATS`; else recognised from the content (the XML root element; for JSON,
    dpa's `format` marker, else ninjs with its `uri`). Raises `AgencyDocumentError`:
    unsupported_format; invalid_document for an empty document or JSON that does not parse;
    unsafe_document for a DOCTYPE naming no format read here."""
    return _detect(raw, declared)[0]


@dataclass(frozen=True)
class AgencyDocument:
    """What an agency document holds: its format, its dispatches, and the problems of those
    of its items that yield none (a package or a picture beside a text in a newsMessage)."""

    format: str
    dispatches: list[Dispatch]
    problems: list[ItemProblem]


def read_agency_document(raw: bytes, declared: str | None = None) -> AgencyDocument:
    """An agency document read: recognised (or taken as `declared`) once, then parsed. A
    document that yields no dispatch at all raises `AgencyDocumentError` with the reason
    (and its `format` when it was recognised)."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise AgencyDocumentError(INVALID_DOCUMENT, f"the document is a {type(raw).__name__}, "
                                                    f"not bytes")
    raw = bytes(raw)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise AgencyDocumentError(TOO_LARGE, f"document of {len(raw)} bytes exceeds the limit "
                                             f"of {MAX_DOCUMENT_BYTES} bytes")
    format_name, document = _detect(raw, declared)
    try:
        if format_name in _XML_FORMATS:
            dispatches, problems = _XML_FORMATS[format_name](parse_xml(raw))
        else:
            dispatches, problems = _JSON_FORMATS[format_name](
                document if document is not None else load_object(raw))
    except AgencyDocumentError as error:
        error.format = format_name
        raise
    return AgencyDocument(format_name, dispatches, problems)


def parse_agency_document(raw: bytes, declared: str | None = None
                          ) -> tuple[list[Dispatch], list[ItemProblem]]:
    """The dispatches of an agency document and the problems of its items that yield none
    (see `read_agency_document`)."""
    document = read_agency_document(raw, declared)
    return document.dispatches, document.problems


def _detect(raw: bytes, declared: str | None) -> tuple[str, dict[str, Any] | None]:
    """The format, and the JSON object when it took parsing to tell."""
    if declared is not None:
        name = declared.strip().lower()
        if name not in FORMATS:
            raise AgencyDocumentError(
                UNSUPPORTED_FORMAT, f"declared format {shown(declared, 60)} is not one of "
                                    f"{', '.join(FORMATS)}")
        return name, None
    start = raw[:4096]
    for bom in _BOMS:
        start = start.removeprefix(bom)
    start = start.lstrip(b" \t\r\n\x00")
    if not start:
        raise AgencyDocumentError(INVALID_DOCUMENT, "the document is empty")
    if start[:1] in (b"{", b"["):
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise AgencyDocumentError(TOO_LARGE, f"document of {len(raw)} bytes exceeds the "
                                                 f"limit of {MAX_DOCUMENT_BYTES} bytes")
        document = load_object(raw, not_an_object=UNSUPPORTED_FORMAT)
        if is_digitalwires(document):
            return "dpa-digitalwires", document
        if "uri" in document:
            return "ninjs", document
        raise AgencyDocumentError(
            UNSUPPORTED_FORMAT, "a JSON object that is neither ninjs (it has no uri) nor dpa "
                                "digitalwires (no format marker, entry_id or urn)")
    sniffed = sniff_root(raw)
    if sniffed is None:
        raise AgencyDocumentError(UNSUPPORTED_FORMAT, "neither XML nor JSON: the document "
                                                      "starts with " + repr(start[:40]))
    root, has_doctype = sniffed
    if root in G2_ROOTS:
        return "newsml-g2", None
    if root == "NewsML":
        return "newsml-1.2", None
    if root == "nitf":
        return "nitf", None
    if has_doctype:  # refused whatever the format: say so rather than "unsupported"
        raise AgencyDocumentError(UNSAFE_DOCUMENT, f"a DOCTYPE (DTD) for <{root[:60]}>: agency "
                                                   f"documents need no DTD")
    raise AgencyDocumentError(
        UNSUPPORTED_FORMAT, f"XML root element <{root[:60]}> is none of NewsML-G2 (newsItem, "
                            f"newsMessage, packageItem), NewsML 1.2 (NewsML) or NITF (nitf)")
