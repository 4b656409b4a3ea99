"""IPTC NITF (News Industry Text Format) documents on their own, as NTB sends them."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from schemas import Dispatch
from streams.feeds.agency.common import (
    INVALID_DOCUMENT,
    NO_TEXT,
    AgencyDocumentError,
    ItemProblem,
    build_dispatch,
    clean_subjects,
    located,
    parse_count,
    parse_dateline,
    parse_language,
    parse_timestamp,
    pub_status_of,
    shown,
)
from streams.feeds.agency.text import element_text
from streams.feeds.agency.xmlsafe import (
    XML_LANG,
    attribute,
    child,
    descendants,
    local_name,
    text_of,
)


def parse_nitf(root: Element) -> tuple[list[Dispatch], list[ItemProblem]]:
    """The dispatch of an NITF document (there is one story per document)."""
    if local_name(root.tag) != "nitf":
        raise AgencyDocumentError(INVALID_DOCUMENT, f"root element <{local_name(root.tag)[:60]}>"
                                                    f" is not nitf")
    head = child(root, "head")
    docdata = child(head, "docdata")
    doc_id = child(docdata, "doc-id")
    story_id = attribute(doc_id, "id-string")
    where = f"nitf {shown(story_id)}" if story_id else "nitf"
    body_head = child(root, "body", "body.head")
    content = child(root, "body", "body.content")
    if content is None:
        raise AgencyDocumentError(NO_TEXT, f"{where}: no body/body.content")
    body = element_text(content)
    if not body:
        raise AgencyDocumentError(NO_TEXT, f"{where}: body/body.content holds no text")
    if story_id is None:
        raise AgencyDocumentError(INVALID_DOCUMENT,
                                  f"{where}: no head/docdata/doc-id/@id-string")
    issued = attribute(child(docdata, "date.issue"), "norm")
    published = attribute(child(head, "pubdata"), "date.publication")
    return [build_dispatch(
        where,
        story_id=story_id,
        version=parse_count(attribute(child(docdata, "du-key"), "version"), "du-key/@version",
                            where),
        language=parse_language(root.get("baselang") or root.get(XML_LANG), where,
                                "nitf/@baselang, nitf/@xml:lang"),
        body=body,
        headline=text_of(child(body_head, "hedline", "hl1")) or text_of(child(head, "title")),
        agency=(attribute(doc_id, "regsrc") or text_of(child(body_head, "distributor"))
                or attribute(child(docdata, "doc.copyright"), "holder")),
        dateline=_dateline(child(body_head, "dateline")),
        published_at=(parse_timestamp(issued, "docdata/date.issue/@norm", where)
                      or parse_timestamp(published, "pubdata/@date.publication", where)),
        urgency=parse_count(attribute(child(docdata, "urgency"), "ed-urg"),
                            "docdata/urgency/@ed-urg", where),
        pub_status=pub_status_of(attribute(docdata, "management-status"), where),
        signal="correction" if child(docdata, "correction") is not None else None,
        subjects=clean_subjects(attribute(subject, "tobject.subject.refnum")
                                for subject in (descendants(head, "tobject.subject")
                                                if head is not None else ())),
    )], []


def _dateline(dateline: Element | None) -> dict[str, str] | None:
    """A dateline's marked-up place (location/city, country) or, failing that, its text."""
    if dateline is None:
        return None
    location = child(dateline, "location")
    city = text_of(child(location, "city"))
    if city:
        return located(city, text_of(child(location, "country")))
    return parse_dateline(text_of(dateline))
