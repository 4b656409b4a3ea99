"""IPTC NewsML 1.2 (AFP's older feeds, Business Wire): NewsItems of NewsComponents holding
ContentItems."""

from __future__ import annotations

import re
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
    gather,
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
    descendants,
    first,
    local_name,
    text_of,
)

# A PublicIdentifier ends with the revision, and the Update flag when it is not N:
# urn:newsml:afp.com:20210516T080625Z:TX-PAR-WGF71:1
_REVISION_SUFFIX = re.compile(r":([0-9]{1,9})[AUN]?$")
# NewsComponent roles whose text is the story (Business Wire: Body), and those whose text
# is not (a caption, the contact lines, the headline set as XHTML, a stylesheet).
_BODY_ROLES = frozenset({"body", "main", "text"})
_NOT_BODY_ROLES = frozenset({
    "caption", "contact", "headline", "logo", "stylesheet", "photo", "picture", "graphic",
    "video", "audio", "thumbnail", "preview", "quicklook", "byline", "advisory",
})
_NOT_TEXT_MIME = ("text/css", "text/javascript")


def parse_newsml12(root: Element) -> tuple[list[Dispatch], list[ItemProblem]]:
    """The dispatches of a NewsML 1.2 document (one per NewsItem), and the problems of the
    NewsItems that yield none."""
    if local_name(root.tag) != "NewsML":
        raise AgencyDocumentError(INVALID_DOCUMENT, f"root element <{local_name(root.tag)[:60]}>"
                                                    f" is not NewsML")
    envelope_party = attribute(child(root, "NewsEnvelope", "SentFrom", "Party"), "FormalName")
    results: list[Dispatch | ItemProblem] = []
    for position, item in enumerate(children(root, "NewsItem"), start=1):
        public_id = text_of(child(item, "Identification", "NewsIdentifier", "PublicIdentifier"))
        label = f"NewsItem[{position}]"
        where = f"NewsItem {shown(public_id)}" if public_id else label
        results.append(attempt(public_id[:200] if public_id else label,
                               partial(_item, item, where, envelope_party, root.get(XML_LANG))))
    return gather(results, "NewsML document")


def _item(item: Element, where: str, envelope_party: str | None,
          document_language: str | None) -> Dispatch:
    management = child(item, "NewsManagement")
    pub_status = pub_status_of(attribute(child(management, "Status"), "FormalName"), where)
    body = text_unless_killed(lambda: _body(item, where), pub_status)
    identifier = child(item, "Identification", "NewsIdentifier")
    if identifier is None:
        raise AgencyDocumentError(INVALID_DOCUMENT,
                                  f"{where}: no Identification/NewsIdentifier")
    public_id = text_of(child(identifier, "PublicIdentifier"))
    revision = child(identifier, "RevisionId")
    version = parse_count(text_of(revision), "RevisionId", where)
    if public_id:
        suffix = _REVISION_SUFFIX.search(public_id)
        story_id = public_id[: suffix.start()] if suffix else public_id
        if version is None and suffix:
            version = int(suffix.group(1))
    else:
        parts = [text_of(child(identifier, name))
                 for name in ("ProviderId", "DateId", "NewsItemId")]
        if not all(parts):
            raise AgencyDocumentError(INVALID_DOCUMENT, f"{where}: neither a PublicIdentifier "
                                                        f"nor ProviderId, DateId and NewsItemId")
        story_id = "urn:newsml:" + ":".join(part for part in parts if part)
    language = (attribute(first(item, "Language"), "FormalName") or item.get(XML_LANG)
                or next((found.get(XML_LANG) for found in item.iter() if found.get(XML_LANG)),
                        None)
                or document_language)
    signals = [attribute(instruction, "FormalName")
               for instruction in (children(management, "Instruction")
                                   if management is not None else ())]
    signals += [attribute(genre, "FormalName") for genre in descendants(item, "Genre")]
    if revision is not None and (revision.get("Update") or "").strip().upper() in ("A", "U"):
        signals.append("update")  # this revision inserts or replaces part of the last one
    return build_dispatch(
        where,
        story_id=story_id,
        version=version,
        language=parse_language(language, where, "DescriptiveMetadata/Language/@FormalName, "
                                                  "xml:lang"),
        body=body,
        headline=text_of(first(item, "HeadLine")),
        agency=(attribute(child(first(item, "Provider"), "Party"), "FormalName")
                or envelope_party or text_of(child(identifier, "ProviderId"))),
        dateline=parse_dateline(text_of(first(item, "DateLine"))),
        published_at=(parse_timestamp(text_of(child(management, "ThisRevisionCreated")),
                                      "ThisRevisionCreated", where)
                      or parse_timestamp(text_of(child(management, "FirstCreated")),
                                         "FirstCreated", where)),
        urgency=parse_count(attribute(child(management, "Urgency"), "FormalName"), "Urgency",
                            where),
        pub_status=pub_status,
        signal=signal_of(signals),
        subjects=clean_subjects(attribute(subject, "FormalName")
                                for code in descendants(item, "SubjectCode")
                                for subject in code),
    )


def _body(item: Element, where: str) -> str:
    """The text of the story's ContentItem: one in a Body (or Main) NewsComponent, else the
    first text one outside captions, contacts, logos and stylesheets."""
    preferred: list[Element] = []
    others: list[Element] = []
    # (element, role of the nearest NewsComponent); walked without recursion.
    stack: list[tuple[Element, str | None]] = [(item, None)]
    while stack:
        element, role = stack.pop()
        name = local_name(element.tag)
        if name == "NewsComponent":
            own = attribute(child(element, "Role"), "FormalName")
            role = own.lower() if own else role
        elif name == "ContentItem":
            if _is_text(element):
                if role in _BODY_ROLES:
                    preferred.append(element)
                elif role not in _NOT_BODY_ROLES:
                    others.append(element)
            continue
        stack.extend((inner, role) for inner in reversed(element))
    for content_item in preferred + others:
        text = _content_text(content_item)
        if text:
            return text
    raise AgencyDocumentError(NO_TEXT, f"{where}: no ContentItem with inline text "
                                       f"(DataContent) in a story component")


def _is_text(content_item: Element) -> bool:
    if child(content_item, "DataContent") is None:
        return False
    media_type = (attribute(child(content_item, "MediaType"), "FormalName") or "").lower()
    mime_type = (attribute(child(content_item, "MimeType"), "FormalName") or "").lower()
    text_format = (attribute(child(content_item, "Format"), "FormalName") or "").lower()
    if mime_type.startswith(_NOT_TEXT_MIME) or text_format == "css":
        return False
    return ((media_type in ("", "text") and not mime_type.startswith(("image/", "video/",
                                                                      "audio/")))
            or mime_type.startswith("text/") or "xhtml" in mime_type or "nitf" in mime_type)


def _content_text(content_item: Element) -> str:
    data = child(content_item, "DataContent")
    if data is None:
        return ""
    markup = next((element for element in data if local_name(element.tag)), None)
    if markup is None:
        mime_type = (attribute(child(content_item, "MimeType"), "FormalName") or "").lower()
        return html_text(data.text or "") if "html" in mime_type else plain_text(data.text or "")
    if local_name(markup.tag) == "nitf":
        content = child(markup, "body", "body.content")
        return element_text(content) if content is not None else ""
    return element_text(data)
