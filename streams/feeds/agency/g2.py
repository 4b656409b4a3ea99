"""IPTC NewsML-G2: a newsItem, a packageItem, or a newsMessage carrying several items."""

from __future__ import annotations

from functools import partial
from xml.etree.ElementTree import Element

from schemas import Dispatch
from streams.feeds.agency.common import (
    INVALID_DOCUMENT,
    NO_TEXT,
    AgencyDocumentError,
    ItemProblem,
    attempt,
    build_dispatch,
    clean_subjects,
    code_of,
    gather,
    located,
    parse_count,
    parse_dateline,
    parse_language,
    parse_timestamp,
    pub_status_of,
    shown,
    signal_of,
    text_unless_killed,
)
from streams.feeds.agency.text import element_text, html_text, plain_text
from streams.feeds.agency.xmlsafe import (
    XML_LANG,
    attribute,
    child,
    children,
    first,
    local_name,
    text_of,
)

G2_ITEMS = ("newsItem", "packageItem", "conceptItem", "knowledgeItem", "planningItem",
            "catalogItem")
G2_ROOTS = ("newsMessage", *G2_ITEMS)
# itemClass codes (ninature) of items that are not text.
NON_TEXT_CLASSES = frozenset({"picture", "graphic", "audio", "video"})
_UNRANKED = 10**9


def parse_g2(root: Element) -> tuple[list[Dispatch], list[ItemProblem]]:
    """The dispatches of a NewsML-G2 document, and the problems of those of its items (in a
    newsMessage) that yield none."""
    kind = local_name(root.tag)
    if kind in G2_ITEMS:
        return [_item(root, _where(root, kind))], []
    if kind != "newsMessage":
        raise AgencyDocumentError(INVALID_DOCUMENT, f"root element <{kind[:60]}> is not a "
                                                    f"NewsML-G2 item or newsMessage")
    item_set = child(root, "itemSet")
    results: list[Dispatch | ItemProblem] = []
    seen: dict[str, int] = {}
    for element in item_set if item_set is not None else ():
        kind = local_name(element.tag)
        if not kind:
            continue
        seen[kind] = seen.get(kind, 0) + 1
        position = f"itemSet/{kind[:60]}[{seen[kind]}]"
        guid = attribute(element, "guid")
        where = _where(element, kind, position)
        results.append(attempt(guid[:200] if guid else position, partial(_item, element, where)))
    return gather(results, "newsMessage")


def _where(element: Element, kind: str, position: str | None = None) -> str:
    """How a message names an item: its kind and guid (or position) and version."""
    guid = attribute(element, "guid")
    name = f"{kind} {shown(guid)}" if guid else (position or kind)
    version = attribute(element, "version")
    return f"{name} version {version[:20]}" if version and guid else name


def _item(element: Element, where: str) -> Dispatch:
    kind = local_name(element.tag)
    if kind == "packageItem":
        raise AgencyDocumentError(NO_TEXT, f"{where} is a package: it references other items "
                                           f"and carries no text of its own")
    if kind != "newsItem":
        raise AgencyDocumentError(NO_TEXT, f"{where}: a {kind} carries no news text")
    item_meta = child(element, "itemMeta")
    content_meta = child(element, "contentMeta")
    item_class_element = child(item_meta, "itemClass")
    item_class = attribute(item_class_element, "qcode") or attribute(item_class_element, "uri")
    if (code_of(item_class) or "").lower() in NON_TEXT_CLASSES:
        raise AgencyDocumentError(NO_TEXT, f"{where}: itemClass {shown(item_class or '')} "
                                           f"is not text")
    status = child(item_meta, "pubStatus")
    pub_status = pub_status_of(attribute(status, "qcode") or attribute(status, "uri"), where)
    body = text_unless_killed(lambda: _body(element, where, item_class), pub_status)
    guid = attribute(element, "guid")
    if guid is None:
        raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: no guid attribute")
    language = attribute(child(content_meta, "language"), "tag") or attribute(element, XML_LANG)
    return build_dispatch(
        where,
        story_id=guid,
        version=parse_count(element.get("version"), "version", where),
        language=parse_language(language, where,
                                "contentMeta/language/@tag, newsItem/@xml:lang"),
        body=body,
        headline=_headline(content_meta),
        agency=_provider(child(item_meta, "provider")),
        dateline=(parse_dateline(text_of(child(content_meta, "dateline")))
                  or _located(child(content_meta, "located"))),
        published_at=(parse_timestamp(text_of(child(item_meta, "versionCreated")),
                                      "itemMeta/versionCreated", where)
                      or parse_timestamp(text_of(child(item_meta, "firstCreated")),
                                         "itemMeta/firstCreated", where)),
        urgency=parse_count(text_of(child(content_meta, "urgency")), "contentMeta/urgency",
                            where),
        pub_status=pub_status,
        signal=signal_of(attribute(signal, "qcode") or attribute(signal, "uri")
                         for signal in (children(item_meta, "signal")
                                        if item_meta is not None else ())),
        subjects=clean_subjects(attribute(subject, "qcode") or text_of(child(subject, "name"))
                                for subject in (children(content_meta, "subject")
                                                if content_meta is not None else ())),
    )


def _body(element: Element, where: str, item_class: str | None) -> str:
    """The text of the first rendition in contentSet that has some: inline XML (an NITF
    body.content, an XHTML or HTML body) or inline data (text or HTML); remote content is
    not fetched."""
    content_set = child(element, "contentSet")
    if content_set is None:
        described = f"itemClass {shown(item_class)}" if item_class else "no itemClass"
        raise AgencyDocumentError(NO_TEXT, f"{where}: no contentSet ({described})")
    for rendition in content_set:
        kind = local_name(rendition.tag)
        if kind == "inlineXML":
            text = _inline_xml(rendition)
        elif kind == "inlineData" and not attribute(rendition, "encoding"):
            contenttype = (rendition.get("contenttype") or "").lower()
            data = rendition.text or ""
            text = html_text(data) if "html" in contenttype else plain_text(data)
        else:
            continue
        if text:
            return text
    raise AgencyDocumentError(NO_TEXT, f"{where}: contentSet holds no inline text "
                                       f"(only empty inlineXML/inlineData, or remoteContent)")


def _inline_xml(rendition: Element) -> str:
    nitf = first(rendition, "nitf")
    if nitf is not None:
        content = child(nitf, "body", "body.content")
        return element_text(content) if content is not None else ""
    html = first(rendition, "html")
    return element_text(html if html is not None else rendition)


def _headline(content_meta: Element | None) -> str | None:
    """The main headline: role main, else the lowest rank, else the first."""
    if content_meta is None:
        return None
    headlines = list(children(content_meta, "headline"))
    for headline in headlines:
        if (code_of(headline.get("role")) or "").lower() == "main":
            return text_of(headline)

    def rank(numbered: tuple[int, Element]) -> tuple[int, int]:
        value = (numbered[1].get("rank") or "").strip()
        ranked = value.isascii() and value.isdigit() and len(value) < 10
        return (int(value) if ranked else _UNRANKED, numbered[0])

    ranked = sorted(enumerate(headlines), key=rank)
    return text_of(ranked[0][1]) if ranked else None


def _provider(provider: Element | None) -> str | None:
    """The provider's name, else its literal, else the code of its qcode (`nprov:REUTERS`),
    else the host of its URI."""
    if provider is None:
        return None
    name = text_of(child(provider, "name")) or attribute(provider, "literal")
    if name:
        return name
    qcode = attribute(provider, "qcode")
    if qcode:
        return qcode.partition(":")[2] or qcode
    uri = attribute(provider, "uri")
    if uri:
        return uri.partition("//")[2].partition("/")[0].removeprefix("www.") or uri
    return None


def _located(place: Element | None) -> dict[str, str] | None:
    """Where the content originates (contentMeta/located): a city, with its country when a
    broader place of type country is given."""
    if place is None:
        return None
    name = text_of(child(place, "name"))
    if (code_of(place.get("type")) or "").lower() == "country":
        return located(None, name)
    country = next((text_of(child(broader, "name")) for broader in children(place, "broader")
                    if (code_of(broader.get("type")) or "").lower() == "country"), None)
    return located(name, country) if name else None
