"""Reading agency XML safely (no DTD, no entities, no network, bounded depth) and walking it
by local names, whatever namespace (or none) a provider puts its elements in."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from streams.feeds.agency.common import (
    INVALID_DOCUMENT,
    UNSAFE_DOCUMENT,
    AgencyDocumentError,
    collapse,
)

# Real agency documents nest a few dozen elements deep (newsMessage, itemSet, newsItem,
# contentSet, inlineXML, html, body, section, p, span, ...).
MAX_XML_DEPTH = 200

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

_ROOT_NAME = re.compile(r"<(!DOCTYPE\s+)?([A-Za-z_][\w.\-]*(?::[\w.\-]+)?)", re.IGNORECASE)
# An XML declaration's encoding, and the encodings expat reads without Python's codecs.
_DECLARED_ENCODING = re.compile(
    rb"""(?:\xef\xbb\xbf)?(<\?xml\s[^>]{0,200}?encoding\s*=\s*["'])([A-Za-z][A-Za-z0-9._\-]{0,39})["']""")
_DECLARED_ENCODING_TEXT = re.compile(
    r"""^(<\?xml\s[^>]{0,200}?encoding\s*=\s*["'])([A-Za-z][A-Za-z0-9._\-]{0,39})(["'])""")
_EXPAT_ENCODINGS = frozenset({"utf-8", "utf8", "utf-16", "utf16", "iso-8859-1", "iso8859-1",
                              "latin-1", "latin1", "us-ascii", "ascii"})
# The part of a document read to recognise it: past the XML declaration, comments and
# processing instructions to the first element.
_SNIFF_BYTES = 64 * 1024


def local_name(tag: object) -> str:
    """`{http://iptc.org/std/nar/2006-10-01/}newsItem` -> `newsItem`; comments and
    processing instructions (whose tag is a function) have none."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def parse_xml(raw: bytes) -> Element:
    """The root element of an XML document; the error says why one is unsafe or not XML.

    A DOCTYPE that only names its DTD, as NITF and NewsML 1.2 deliveries often do, is read
    and the DTD never loaded; defusedxml refuses any entity declaration (no XXE, no
    "billion laughs") and any external reference. expat reads the bytes in the encoding the
    document declares and stops at the first byte that is not."""
    data = _in_utf8(raw.lstrip(b" \t\r\n"))  # a blank line before the root is common
    root: Element | None = None
    depth = 0
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start", "end"),
                                        forbid_dtd=False, forbid_entities=True,
                                        forbid_external=True):
            if event == "end":
                depth -= 1
                continue
            depth += 1
            if root is None:
                root = element
            if depth > MAX_XML_DEPTH:
                raise AgencyDocumentError(
                    INVALID_DOCUMENT,
                    f"elements nested deeper than {MAX_XML_DEPTH} levels "
                    f"(<{local_name(element.tag)[:60]}> at level {depth})")
    except AgencyDocumentError:
        raise
    except DefusedXmlException as error:
        raise AgencyDocumentError(
            UNSAFE_DOCUMENT, f"refused: {type(error).__name__} ({error}); agency documents "
                             f"need no entity declaration or external reference") from None
    except ParseError as error:
        raise AgencyDocumentError(INVALID_DOCUMENT, f"not well-formed XML: {error}") from None
    except (LookupError, ValueError) as error:  # an encoding neither expat nor Python reads
        raise AgencyDocumentError(INVALID_DOCUMENT,
                                  f"unreadable XML encoding: {error}") from None
    if root is None:  # pragma: no cover - expat reports a document without an element
        raise AgencyDocumentError(INVALID_DOCUMENT, "no root element")
    return root


def _in_utf8(data: bytes) -> bytes:
    """The document in UTF-8 when it declares an encoding that expat does not read itself
    (expat reads UTF-8, UTF-16, ISO-8859-1 and ASCII, and single-byte encodings through
    Python, but no multi-byte one: Shift_JIS, Big5, GB18030, EUC-KR)."""
    declared = _DECLARED_ENCODING.match(data)
    if declared is None or declared.group(2).decode("ascii").lower() in _EXPAT_ENCODINGS:
        return data
    name = declared.group(2).decode("ascii")
    try:
        text = data.decode(name)
    except LookupError:  # unknown, or not a text encoding: expat says so
        return data
    except ValueError as error:  # UnicodeDecodeError, and UnicodeError from a few codecs
        raise AgencyDocumentError(INVALID_DOCUMENT, f"the bytes are not in the declared "
                                                    f"encoding {name}: {error}") from None
    rewritten, count = _DECLARED_ENCODING_TEXT.subn(r"\g<1>UTF-8\g<3>", text, count=1)
    if count != 1:
        raise AgencyDocumentError(INVALID_DOCUMENT, f"the XML declaration does not read in its "
                                                    f"own encoding {name}")
    return rewritten.encode("utf-8")


def sniff_root(raw: bytes) -> tuple[str, bool] | None:
    """The local name of an XML document's first element (or the name its DOCTYPE gives the
    root) and whether it has a DOCTYPE, read from its start without parsing it; None when it
    does not start like XML."""
    head = raw[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="replace")
    else:
        text = head.decode("latin-1")  # element names are ASCII in every agency format
    text = text.removeprefix("\ufeff").removeprefix("\xef\xbb\xbf")
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if text.startswith("<?", position):
            end = text.find("?>", position)
            if end < 0:
                return None
            position = end + 2
        elif text.startswith("<!--", position):
            end = text.find("-->", position)
            if end < 0:
                return None
            position = end + 3
        else:
            found = _ROOT_NAME.match(text, position)
            if found is None:
                return None
            return found.group(2).rpartition(":")[2], found.group(1) is not None


def children(element: Element, name: str) -> Iterator[Element]:
    """The child elements with this local name, in order."""
    return (child for child in element if local_name(child.tag) == name)


def child(element: Element | None, *path: str) -> Element | None:
    """The first element down this path of local names, or None."""
    for name in path:
        if element is None:
            return None
        element = next(children(element, name), None)
    return element


def descendants(element: Element, name: str) -> Iterator[Element]:
    """Every element below (or at) this one with this local name, in document order."""
    return (found for found in element.iter() if local_name(found.tag) == name)


def first(element: Element, name: str) -> Element | None:
    """The first element below (or at) this one with this local name."""
    return next(descendants(element, name), None)


def text_of(element: Element | None) -> str | None:
    """The text of an element and its descendants on one line, or None when it has none."""
    if element is None:
        return None
    return collapse("".join(element.itertext())) or None


def attribute(element: Element | None, name: str) -> str | None:
    """An attribute's value, stripped, or None when absent or empty."""
    if element is None:
        return None
    value = element.get(name)
    return value.strip() or None if value is not None else None
