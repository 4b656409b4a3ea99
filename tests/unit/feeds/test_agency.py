"""Agency documents (NewsML-G2, NewsML 1.2, ninjs, NITF, dpa digitalwires) into dispatches:
every shared sample, hostile documents, and random or mutated bytes."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Dispatch
from schemas.models import MAX_BODY_CHARS
from streams.feeds.agency import (
    FORMATS,
    MAX_DOCUMENT_BYTES,
    MAX_XML_DEPTH,
    REASONS,
    AgencyDocumentError,
    ItemProblem,
    detect_format,
    parse_agency_document,
)
from streams.feeds.agency.common import parse_dateline
from streams.feeds.agency.text import html_text
from tests.helpers import SHARED

SAMPLES = SHARED / "samples" / "agency-formats"
SAMPLE_FILES = sorted(path.relative_to(SAMPLES).as_posix()
                      for path in SAMPLES.glob("*/*") if path.suffix in (".xml", ".json"))


@dataclass(frozen=True)
class Expected:
    """What the samples README says a document carries, as a dispatch or as an error."""

    format: str
    story_id: str = ""
    version: int = 1
    urgency: int | None = None
    pub_status: str = "usable"
    signal: str | None = None
    language: str = ""
    headline: str = ""  # how it starts
    agency: str | None = None
    city: str | None = None
    country: str | None = None
    published: str | None = None  # ISO 8601, or NO_ZONE (then published_at is None)
    chars: int | None = None  # body length, within 15%
    problems: tuple[tuple[str, str], ...] = ()  # (item, reason) of items that yield none
    error: str | None = None  # the reason when the document yields no dispatch
    names: tuple[str, ...] = ()  # what the error message must name


DPA = "urn:newsml:dpa.com:20090101:"
NO_ZONE = "a time without a zone, not guessed to be UTC"
EXPECTED = {
    # --- NewsML-G2 -----------------------------------------------------------------------
    "newsml-g2/iptc_LISTING_1_A_NewsML-G2_News_Item.xml": Expected(
        "newsml-g2", error="no_text",
        names=("urn:newsml:acmenews.com:20161018:US-FINANCE-FED", "version 11", "contentSet")),
    "newsml-g2/iptc_LISTING_2_NewsML-G2_Text_Document.xml": Expected(
        "newsml-g2", story_id="urn:newsml:acmenews.com:20161121:US-FINANCE-FED", version=11,
        language="en", headline='Fed to halt QE to avert "bubble"', agency="acmenews.com",
        # No dateline element: contentMeta/located names the place.
        city="New York, NY", published="2018-11-21T16:25:32-05:00", chars=900),
    # README's ~1,450 counts the whole inlineXML, the NITF body.head (hedline, byline,
    # abstract) too; the body is body.content.
    "newsml-g2/iptc_LISTING_22_Sports_story_in_NewsML-G2NITF.xml": Expected(
        "newsml-g2", story_id="tag:xmlteam.com,2016:xt.5932656-preview", version=11,
        language="en", headline="Preview: Arizona Diamondbacks (29-23)",
        agency="www.xmlteam.com", published="2018-10-19T11:45:00-04:00", chars=1_165),
    "newsml-g2/iptc_LISTING_24_News_Message_conveying_a_complete_News_Package.xml": Expected(
        "newsml-g2", error="no_text",
        names=("none of its 5 items", "itemSet/packageItem[1] is a package", "'N1'", "'N4'")),
    "newsml-g2/iptc_LISTING_29_Hop_History.xml": Expected(
        "newsml-g2", error="no_text",
        names=("urn:newsml:acmenews.com:20161019T1205:HOP-HISTORY-EXAMPLE",
               "no contentSet")),
    "newsml-g2/iptc_LISTING_6_Simple_NewsML-G2_Package.xml": Expected(
        "newsml-g2", error="no_text",
        names=("tag:example.com,2008:UK-NEWS-TOPTEN:UK20081220098658", "is a package")),
    "newsml-g2/iptc-python_007_emptynewsmessage.xml": Expected(
        "newsml-g2", error="no_text",
        names=("none of its 2 items", "'news-message-example' is a package",
               "newsItem 'N1': no contentSet")),
    # README's ~570 counts the NITF body.head too (see LISTING_22).
    "newsml-g2/iptc-python_008_roundtrip_test.xml": Expected(
        "newsml-g2", story_id="urn:newsml:acmenews.com:20161018:US-FINANCE-FED", version=11,
        signal="update", language="en", headline='Fed to halt QE', agency="REUTERS",
        city="Berlin", country="Germany", published="2018-10-21T16:25:32-05:00", chars=287),
    # README's ~960 counts the HTML title and the picture's caption; TT's own charcount
    # (contentMetaExtProperty ttext:charcount) is 815.
    "newsml-g2/tt_newsmlg2_sample.xml": Expected(
        "newsml-g2", story_id="http://tt.se/media/text/210919-janguillou-879f202b", urgency=3,
        language="sv", headline='Jan Guillou skriver på ny "Hamilton"-bok', agency="TT",
        published="2021-09-19T20:57:43+02:00", chars=815,
        problems=(("http://tt.se/media/text/210919-janguillou-879f202b-pack", "no_text"),
                  ("http://tt.se/media/image/sdlm1btzmKu8WU", "no_text"))),
    "newsml-g2/dpa_with_dateline.xml": Expected(
        "newsml-g2", story_id=DPA + "250128-930-357319", version=2, urgency=3,
        signal="update", language="de", headline="DeepSeek-Schock aus China", agency="dpa",
        city="New York", published="2025-01-28T09:18:34+01:00", chars=4_600),
    "newsml-g2/dpa_dw-1.xml": Expected(
        "newsml-g2", story_id=DPA + "240923-930-240378", version=2, urgency=3,
        signal="correction", language="de", headline="«Mythos Jungfernhäutchen»",
        agency="dpa", city="Waghäusel", chars=6_300),
    # README's ~440 counts the XHTML head and header (date, keyword list, headline), page
    # furniture that the body leaves out: what is left is the one paragraph.
    "newsml-g2/dpa_eil.xml": Expected(
        "newsml-g2", story_id=DPA + "240925-930-242744", urgency=2, language="de",
        headline="Grünen-Spitze tritt nach Wahlniederlagen ab", agency="dpa", city="Berlin",
        published="2024-09-25T10:37:24+02:00", chars=308),
    "newsml-g2/dpa_embargoed.xml": Expected(
        "newsml-g2", story_id=DPA + "250123-930-353124", urgency=4, language="de",
        headline="Steinmeier: Russland zerstört kulturelles Erbe der Ukraine", agency="dpa",
        city="Berlin", chars=2_300),
    "newsml-g2/dpa_with_infobox.xml": Expected(
        "newsml-g2", story_id=DPA + "250122-99-671785", version=10, urgency=3, language="de",
        headline="Bild von Brandschäden", agency="dpa", chars=5_800),
    "newsml-g2/dpa_spe2.xml": Expected(
        "newsml-g2", story_id=DPA + "dsv:text:ERG_MM_TE_FEDCUP_W_2024_1125", version=52,
        urgency=3, language="de", headline="Ergebnisse Tennis", agency="dpa", chars=700),
    "newsml-g2/dpa_image.xml": Expected(
        "newsml-g2", error="no_text", names=(DPA + "250129-99-739668", "ninat:picture")),
    # --- NewsML 1.2 ----------------------------------------------------------------------
    "newsml-1.2/afp_newsml1.2_sample_en.xml": Expected(
        "newsml-1.2", story_id="urn:newsml:afp.com:20210516T080625Z:TX-PAR-WGF71", urgency=4,
        signal="update",  # Genre Update (AdvisoryLine: "UPDATES throughout")
        language="en", headline="Israel strikes key Hamas targets", agency="AFP",
        city="Gaza City", country="Palestinian Territories",
        published="2021-05-16T08:06:25+00:00", chars=6_300),
    "newsml-1.2/businesswire-newsml-20130605006126.xml": Expected(
        "newsml-1.2", story_id="urn:newsml:businesswire.com:20010714:20130605006126",
        language="zh", headline="Cambrios被Gartner評選為", agency="Business Wire",
        city="加州桑尼維爾", published="2013-06-05T21:00:00+00:00", chars=1_600),
    # --- ninjs ---------------------------------------------------------------------------
    "ninjs/ninjs1.4_ninjsExSimpleText1.json": Expected(
        "ninjs", error="invalid_document",
        names=("http://ninjs.example.com/newsitems/20130709simp123", "no language")),
    "ninjs/ninjs1.4_ninjsExComplex1.json": Expected(
        "ninjs", story_id="http://ninjs.example.com/newsitems/20130709cplx123", language="en",
        headline="Captain of wrecked cruise ship", city="Grossetto", country="Italy",
        published="2013-07-09T10:37:00+00:00", chars=980),
    # README's ~130 counts the value's padding; its text is 110 characters.
    "ninjs/ninjs1.4_businesswire-20130605006126.json": Expected(
        "ninjs", story_id="http://www.businesswire.com/news/home/20130605006126/zh",
        language="zh", headline="Cambrios被Gartner", chars=110),
    "ninjs/ninjs1.6_004_simple_text_article.json": Expected(
        "ninjs", error="invalid_document", names=("no language",)),
    "ninjs/ninjs2.1_dpa_text.json": Expected(
        "ninjs", story_id=DPA + "190510-99-167362", version=2, urgency=4, language="de",
        headline="Faktencheck Derby-Elfmeter", agency="dpa",
        published="2019-05-10T16:02:28+02:00", chars=3_100),
    "ninjs/ninjs2.1_ntb_text.json": Expected(
        "ninjs", error="no_text", names=("urn:8d19cf88-b3ab-4972-8fec-1207599f2872", "no body")),
    # README's ~2,900 counts the item's renditions together (text, html5, richhtml5: the
    # same ~980 characters each); the dispatch takes one.
    "ninjs/ninjs2.1_tt_text_image_2.json": Expected(
        "ninjs", story_id="http://tt.se/media/text/210526-militarovning-a0f2d045", urgency=3,
        language="sv", headline="Militärövning i jätteformat hålls 2023", agency="TT",
        published="2021-05-26T13:40:18+02:00", chars=985),
    "ninjs/ninjs2.1_businesswire-20130605006126.json": Expected(
        "ninjs", story_id="http://www.businesswire.com/news/home/20130605006126/zh",
        language="zh", headline="Cambrios被Gartner", chars=110),
    "ninjs/ninjs2.2_005_complex_text_article.json": Expected(
        "ninjs", story_id="http://ninjs.example.com/newsitems/20130709med123", language="en",
        headline="Captain of wrecked cruise ship", city="Grossetto", country="Italy",
        chars=980),
    "ninjs/ninjs3.0_ntb_text.json": Expected(
        "ninjs", error="no_text", names=("urn:8d19cf88-b3ab-4972-8fec-1207599f2872", "no body")),
    # --- NITF ----------------------------------------------------------------------------
    "nitf/ntb_nitf_sample.xml": Expected(
        "nitf", story_id="NTB5df9281a-a270-4dc5-a618-869bbc3bbca7_00", urgency=5,
        language="nb", headline="Pandemien herjer på den legeløse", agency="NTB",
        city="Unnao", published=NO_ZONE, chars=3_100),
    # --- dpa digitalwires ----------------------------------------------------------------
    "dpa-digitalwires-json/dpa_with_dateline.json": Expected(
        "dpa-digitalwires", story_id=DPA + "250128-930-357319", version=2, urgency=3,
        signal="update", language="de", headline="DeepSeek-Schock aus China", agency="dpa",
        city="New York", published="2025-01-28T09:18:34+01:00", chars=4_400),
    "dpa-digitalwires-json/dpa_eil.json": Expected(
        "dpa-digitalwires", story_id=DPA + "240925-930-242744", urgency=2, language="de",
        headline="Grünen-Spitze", agency="dpa", city="Berlin", chars=330),
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_every_sample_has_an_expected_record():
    assert SAMPLE_FILES, f"no samples under {SAMPLES}"
    assert set(SAMPLE_FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample(name: str):
    expected = EXPECTED[name]
    raw = sample(name)
    assert detect_format(raw) == expected.format
    if expected.error is not None:
        with pytest.raises(AgencyDocumentError) as caught:
            parse_agency_document(raw)
        assert caught.value.reason == expected.error, caught.value.message
        for named in expected.names:
            assert named in caught.value.message
        return
    dispatches, problems = parse_agency_document(raw)
    assert [(problem.item, problem.reason) for problem in problems] == list(expected.problems)
    [dispatch] = dispatches
    assert dispatch.story_id == expected.story_id
    assert dispatch.id == f"{expected.story_id}:{expected.version}"
    assert (dispatch.version, dispatch.urgency, dispatch.pub_status, dispatch.signal,
            dispatch.language) == (expected.version, expected.urgency, expected.pub_status,
                                   expected.signal, expected.language)
    assert dispatch.headline is not None and dispatch.headline.startswith(expected.headline)
    assert dispatch.agency == expected.agency
    city = dispatch.dateline.city if dispatch.dateline else None
    country = dispatch.dateline.country if dispatch.dateline else None
    assert (city, country) == (expected.city, expected.country)
    if expected.published == NO_ZONE:
        assert dispatch.published_at is None
    elif expected.published is not None:
        assert dispatch.published_at == datetime.fromisoformat(expected.published)
    assert expected.chars is not None
    assert abs(len(dispatch.body) - expected.chars) <= 0.15 * expected.chars, len(dispatch.body)
    assert_clean_text(dispatch.body)


def assert_clean_text(body: str) -> None:
    """Flattened: no markup left, no runs of spaces, paragraphs separated by one blank line."""
    assert not re.search(r"<(?:/?p|br|div|span|/?[a-z]+\s*/?>)", body, re.IGNORECASE), body[:200]
    assert "  " not in body and "\n\n\n" not in body and "\t" not in body
    for paragraph in body.split("\n\n"):
        assert paragraph == paragraph.strip() and paragraph and "\n" not in paragraph


def test_sample_bodies_are_as_written():
    """The body is the agency's, in its order: a dateline opening the first paragraph stays,
    captions and page furniture are not text, entities are decoded."""
    [eil], _ = parse_agency_document(sample("newsml-g2/dpa_eil.xml"))
    assert eil.body.startswith("Berlin (dpa) - Die Grünen-Spitze zieht")
    assert "«Table Media»" in eil.body and "25.09.2024" not in eil.body
    [afp], _ = parse_agency_document(sample("newsml-1.2/afp_newsml1.2_sample_en.xml"))
    paragraphs = afp.body.split("\n\n")
    assert paragraphs[0].startswith("Israel's army said Sunday")
    assert "- Media offices destroyed -" in paragraphs
    assert paragraphs[-1] == "bur-dar-gl/fz"
    [ntb], _ = parse_agency_document(sample("nitf/ntb_nitf_sample.xml"))
    assert "Kremasjonsbål" not in ntb.body  # the picture's caption
    assert ntb.body.split("\n\n")[1].startswith("– Det er så mye fattigdom")
    [results], _ = parse_agency_document(sample("newsml-g2/dpa_spe2.xml"))
    assert "Dienstag, 19.11.2024:\n\nGroßbritannien - Slowakei 1:2\n\n" in results.body  # <br>
    [release], _ = parse_agency_document(
        sample("newsml-1.2/businesswire-newsml-20130605006126.xml"))
    assert "每平方<10至300歐姆" in release.body  # &lt; in the text is text
    assert "Monica Smith" not in release.body  # the Contact component is not the story
    [tt], _ = parse_agency_document(sample("newsml-g2/tt_newsmlg2_sample.xml"))
    assert "Arkivbild" not in tt.body  # figure caption


def test_sample_metadata_beyond_the_table():
    [dw1], _ = parse_agency_document(sample("newsml-g2/dpa_dw-1.xml"))
    assert dw1.published_at == datetime(2024, 9, 24, 12, 5, 52,
                                        tzinfo=timezone(timedelta(hours=2)))
    [with_dateline], _ = parse_agency_document(sample("newsml-g2/dpa_with_dateline.xml"))
    assert with_dateline.subjects == ["dpacat:wi", "dpacountry:184", "dpasubject:377",
                                      "medtop:20000394"]
    assert with_dateline.body.split("\n\n")[1].startswith("New York (dpa) - Ein Chatbot")
    [afp], _ = parse_agency_document(sample("newsml-1.2/afp_newsml1.2_sample_en.xml"))
    assert afp.subjects[:2] == ["16000000", "16002000"]
    [tt], _ = parse_agency_document(sample("newsml-g2/tt_newsmlg2_sample.xml"))
    assert "Jan Guillou" in tt.subjects and "medtop:20000013" in tt.subjects


def test_parsing_is_deterministic():
    for name in SAMPLE_FILES:
        if EXPECTED[name].error is None:
            raw = sample(name)
            assert parse_agency_document(raw) == parse_agency_document(raw)


# --- Mappings the samples do not show ------------------------------------------------------


def replaced(name: str, *edits: tuple[str, str]) -> bytes:
    text = sample(name).decode("utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode("utf-8")


@pytest.mark.parametrize(("name", "edit", "status"), [
    ("newsml-g2/dpa_eil.xml", ('qcode="stat:usable"', 'qcode="stat:canceled"'), "canceled"),
    ("newsml-g2/dpa_eil.xml", ('qcode="stat:usable"', 'qcode="stat:withheld"'), "withheld"),
    ("newsml-1.2/afp_newsml1.2_sample_en.xml",
     ('<Status FormalName="Usable"/>', '<Status FormalName="Withheld"/>'), "withheld"),
    ("newsml-1.2/afp_newsml1.2_sample_en.xml",
     ('<Status FormalName="Usable"/>', '<Status FormalName="Canceled"/>'), "canceled"),
    ("ninjs/ninjs2.1_dpa_text.json", ('"pubstatus": "usable"', '"pubstatus": "canceled"'),
     "canceled"),
])
def test_withheld_and_canceled(name: str, edit: tuple[str, str], status: str):
    [dispatch], _ = parse_agency_document(replaced(name, edit))
    assert dispatch.pub_status == status


def test_unknown_publication_status_is_an_invalid_document():
    raw = replaced("newsml-g2/dpa_eil.xml", ('qcode="stat:usable"', 'qcode="stat:maybe"'))
    with pytest.raises(AgencyDocumentError, match="stat:maybe") as caught:
        parse_agency_document(raw)
    assert caught.value.reason == "invalid_document"


@pytest.mark.parametrize("name", ["ninjs/ninjs2.1_ntb_text.json", "ninjs/ninjs3.0_ntb_text.json"])
def test_ninjs_2_and_3_spellings(name: str):
    """NTB's item with a body added: 2.x lowercase and 3.x camelCase keys read alike."""
    document = json.loads(sample(name))
    document["bodies"] = [{"role": "main", "contentType": "text/plain",
                           "value": "IT-giganten Google har kjøpt en tomt.\n\nI Skien."}]
    [dispatch], problems = parse_agency_document(json.dumps(document).encode())
    assert not problems
    assert (dispatch.story_id, dispatch.version, dispatch.urgency, dispatch.pub_status,
            dispatch.language, dispatch.agency) == (
        "urn:8d19cf88-b3ab-4972-8fec-1207599f2872", 6, 5, "usable", "nb", "NTB")
    assert dispatch.published_at == datetime(2019, 8, 9, 9, 46, 53, tzinfo=UTC)
    assert dispatch.headline == "Google har kjøpt giganttomt i Skien"
    assert dispatch.subjects == ["Innenriks", "13010000", "04011000", "04005000"]
    assert dispatch.body == "IT-giganten Google har kjøpt en tomt.\n\nI Skien."


def test_ninjs_picture_is_not_text():
    document = {"uri": "urn:x:1", "type": "picture", "language": "en",
                "body_text": "A caption."}
    with pytest.raises(AgencyDocumentError, match="picture") as caught:
        parse_agency_document(json.dumps(document).encode())
    assert caught.value.reason == "no_text"


def test_ninjs_version_must_be_an_integer():
    document = {"uri": "urn:x:1", "version": "two", "language": "en", "body_text": "Text."}
    with pytest.raises(AgencyDocumentError, match="version is not an integer") as caught:
        parse_agency_document(json.dumps(document).encode())
    assert caught.value.reason == "invalid_document"


def test_newsml12_correction_and_update_signals():
    correction = replaced("newsml-1.2/afp_newsml1.2_sample_en.xml",
                          ('<Genre FormalName="Update"/>', '<Genre FormalName="Correction"/>'))
    [dispatch], _ = parse_agency_document(correction)
    assert dispatch.signal == "correction"
    plain = replaced("newsml-1.2/businesswire-newsml-20130605006126.xml",
                     ('PreviousRevision="0" Update="N">1<', 'PreviousRevision="1" Update="U">2<'),
                     ("20130605006126:1<", "20130605006126:2U<"))
    [dispatch], _ = parse_agency_document(plain)
    assert (dispatch.signal, dispatch.version, dispatch.story_id) == (
        "update", 2, "urn:newsml:businesswire.com:20010714:20130605006126")


def test_newsmessage_with_a_package_and_a_text_yields_the_text():
    raw = b"""<newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/"><itemSet>
      <packageItem guid="p1" version="1"><itemMeta><itemClass qcode="ninat:composite"/>
      </itemMeta></packageItem>
      <newsItem guid="t1" version="3" xml:lang="fr-FR"><itemMeta>
        <itemClass qcode="ninat:text"/><provider qcode="nprov:AFP"/>
        <versionCreated>2021-08-15T10:00:00+02:00</versionCreated>
        <pubStatus qcode="stat:usable"/><signal qcode="sig:correction"/></itemMeta>
        <contentMeta><urgency>1</urgency><headline>Kaboul tombe</headline>
        <dateline>KABOUL, 15 ao\xc3\xbbt 2021 (AFP) -</dateline></contentMeta>
        <contentSet><inlineData contenttype="text/plain">Les talibans.

Deuxi\xc3\xa8me   paragraphe.</inlineData></contentSet></newsItem>
    </itemSet></newsMessage>"""
    [dispatch], [problem] = parse_agency_document(raw)
    assert problem == ItemProblem(item="p1", reason="no_text", message=problem.message)
    assert "is a package" in problem.message
    assert (dispatch.id, dispatch.language, dispatch.urgency, dispatch.signal,
            dispatch.agency) == ("t1:3", "fr", 1, "correction", "AFP")
    assert dispatch.dateline is not None and dispatch.dateline.city == "KABOUL"
    assert dispatch.body == "Les talibans.\n\nDeuxième paragraphe."


def test_an_empty_newsmessage_is_no_text():
    for raw in (b"<newsMessage><itemSet/></newsMessage>", b"<newsMessage/>"):
        with pytest.raises(AgencyDocumentError, match="carries no items") as caught:
            parse_agency_document(raw)
        assert caught.value.reason == "no_text"


def test_shift_jis_document_is_read():
    document = ('<?xml version="1.0" encoding="Shift_JIS"?><newsItem guid="kyodo:1" '
                'xml:lang="ja"><contentSet><inlineXML contenttype="application/xhtml+xml">'
                '<html><body><p>東京で地震</p></body></html></inlineXML></contentSet></newsItem>')
    [dispatch], _ = parse_agency_document(document.encode("shift_jis"))
    assert (dispatch.body, dispatch.language) == ("東京で地震", "ja")


def test_body_over_the_model_limit_is_too_large():
    document = {"uri": "urn:x:1", "language": "en", "body_text": "word " * MAX_BODY_CHARS}
    with pytest.raises(AgencyDocumentError, match="exceeds") as caught:
        parse_agency_document(json.dumps(document).encode())
    assert caught.value.reason == "too_large"


# --- Formats: declared and recognised ------------------------------------------------------


def test_a_declared_format_wins_and_must_be_known():
    g2 = sample("newsml-g2/dpa_eil.xml")
    assert detect_format(g2, "NewsML-G2") == "newsml-g2"
    assert detect_format(g2, "ninjs") == "ninjs"
    with pytest.raises(AgencyDocumentError) as caught:
        parse_agency_document(g2, "ninjs")  # not JSON
    assert caught.value.reason == "invalid_document"
    with pytest.raises(AgencyDocumentError, match="iptc7901") as caught:
        detect_format(g2, "iptc7901")
    assert caught.value.reason == "unsupported_format"
    with pytest.raises(AgencyDocumentError, match="root element <newsMessage>") as caught:
        parse_agency_document(g2, "nitf")
    assert caught.value.reason == "invalid_document"


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "invalid_document"),
    (b"   \n", "invalid_document"),
    (b"ZCZC AFP0123 4 pol /AFP-BO53 plain IPTC 7901 text", "unsupported_format"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "unsupported_format"),
    (b'{"id": "x", "language": "fr", "body": "a wirewatch dispatch"}', "unsupported_format"),
    (b'[{"uri": "urn:x"}]', "unsupported_format"),
    (b'{"uri": ', "invalid_document"),
])
def test_unrecognised_documents(raw: bytes, reason: str):
    with pytest.raises(AgencyDocumentError) as caught:
        parse_agency_document(raw)
    assert caught.value.reason == reason


# --- Hostile documents ---------------------------------------------------------------------


def refused(raw: bytes, declared: str | None = None) -> AgencyDocumentError:
    """The error a document is refused with, within a second."""
    start = time.perf_counter()
    with pytest.raises(AgencyDocumentError) as caught:
        parse_agency_document(raw, declared)
    assert time.perf_counter() - start < 1.0
    return caught.value


XXE = (b'<?xml version="1.0"?><!DOCTYPE newsItem [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
       b'<newsItem guid="x" xml:lang="en"><contentSet><inlineData>&e;</inlineData>'
       b'</contentSet></newsItem>')
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE nitf [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (n, b"&lol%d;" % (n - 1) * 10 if n > 1
                                                         else b"&lol;" * 10)
                             for n in range(1, 10))
                  + b']><nitf baselang="en"><body><body.content><p>&lol9;</p></body.content>'
                    b'</body></nitf>')
EXTERNAL_DTD = (b'<?xml version="1.0"?><!DOCTYPE NewsML SYSTEM "http://127.0.0.1:9/NewsML.dtd">'
                b'<NewsML Version="1.2"/>')
PARAMETER_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM '
                    b'"http://127.0.0.1:9/p.dtd"> %p;]><nitf/>')


@pytest.mark.parametrize("raw", [XXE, BILLION_LAUGHS, PARAMETER_ENTITY],
                         ids=["xxe", "billion-laughs", "parameter-entity"])
def test_entities_are_refused_as_unsafe(raw: bytes):
    error = refused(raw)
    assert error.reason == "unsafe_document"
    assert "entity declaration" in error.message or "DOCTYPE" in error.message


def test_a_doctype_that_only_names_its_dtd_is_read_and_the_dtd_never_loaded():
    # As NITF and NewsML 1.2 deliveries often start; the DTD's address answers nothing.
    nitf = (SAMPLES / "nitf" / "ntb_nitf_sample.xml").read_bytes()
    declaration, _, rest = nitf.partition(b"?>")
    named = declaration + b'?><!DOCTYPE nitf SYSTEM "http://127.0.0.1:9/nitf.dtd">' + rest
    start = time.perf_counter()
    [dispatch], _ = parse_agency_document(named)
    assert time.perf_counter() - start < 1.0, "nothing was fetched"
    assert dispatch.body == parse_agency_document(nitf)[0][0].body
    assert refused(EXTERNAL_DTD).reason == "no_text"  # read, and found empty


def test_a_50_mb_document_is_refused_by_size_before_parsing():
    raw = b"<newsItem>" + b"x" * 50_000_000 + b"</newsItem>"
    error = refused(raw)
    assert error.reason == "too_large" and str(MAX_DOCUMENT_BYTES) in error.message
    assert refused(b"{" + b" " * MAX_DOCUMENT_BYTES + b"}").reason == "too_large"


@pytest.mark.parametrize(("raw", "said"), [
    (b'<?xml version="1.0" encoding="UTF-16"?><nitf baselang="en"/>',
     "encoding specified in XML declaration is incorrect"),
    ('<?xml version="1.0" encoding="UTF-8"?><nitf baselang="fr"><body><body.content>'
     '<p>Élysée</p></body.content></body></nitf>'.encode("latin-1"), "not well-formed"),
    (b'<?xml version="1.0" encoding="Shift_JIS"?><nitf>\x81\x20</nitf>',
     "not in the declared encoding"),
])
def test_a_wrong_declared_encoding_is_an_invalid_document(raw: bytes, said: str):
    error = refused(raw)
    assert error.reason == "invalid_document" and said in error.message


def test_deep_nesting_is_refused_without_recursion():
    deep_xml = b"<newsItem>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</newsItem>"
    error = refused(deep_xml)
    assert error.reason == "invalid_document" and str(MAX_XML_DEPTH) in error.message
    deep_json = b'{"uri": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert refused(deep_json).reason == "invalid_document"


def test_html_bodies_that_would_make_the_html_parser_quadratic_are_fast():
    for body in ("<!--" * 250_000, "<a b='" * 150_000, "</" * 400_000, "<p" * 400_000,
                 "<script>" + "</" * 400_000, "<![CDATA[" * 100_000):
        document = {"uri": "urn:x:1", "language": "en", "body_html": body + "<p>Text.</p>"}
        start = time.perf_counter()
        try:
            parse_agency_document(json.dumps(document).encode())
        except AgencyDocumentError as error:
            assert error.reason in ("no_text", "too_large")
        assert time.perf_counter() - start < 1.0, body[:20]


def test_control_characters_and_lone_surrogates_do_not_reach_a_dispatch():
    document = {"uri": "urn:x:1", "language": "en", "body_text": "One\u0000two\u0085three"}
    [dispatch], _ = parse_agency_document(json.dumps(document).encode())
    assert dispatch.body == "One two three"
    document["headline"] = "bad \ud800"
    error = refused(json.dumps(document).encode())
    assert error.reason == "invalid_document" and "surrogate" in error.message


# --- Text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("html", "text"), [
    ("<p>One <b>bold</b>, <i>it</i>alic.</p><p>Two</p>", "One bold, italic.\n\nTwo"),
    ("<div>Direct text<p>and a paragraph</p></div>", "Direct text\n\nand a paragraph"),
    ("<ul><li>a</li><li>b</li></ul><blockquote>q</blockquote>", "a\n\nb\n\nq"),
    ("<table><tr><td>1</td><td>2</td></tr><tr><th>3</th><td>4</td></tr></table>",
     "1 2\n\n3 4"),
    ("<p>Line<br>break<br/>again</p>", "Line\n\nbreak\n\nagain"),
    ("<script>alert('x')</script><style>p{}</style><p>&eacute;t&#233; &amp; &lt;b&gt;</p>",
     "été & <b>"),
    ("<html><head><title>T</title></head><body><header><h1>H</h1></header>"
     "<h1>Title</h1><p>  spaced \n\t text </p><figure><figcaption>Cap</figcaption></figure>"
     "</body></html>", "Title\n\nspaced text"),
    ("<p>unclosed <p>paragraphs <header>and an unclosed header", "unclosed\n\nparagraphs"),
    ("<p>a < b and c > d</p>", "a < b and c > d"),
    ("no markup at all", "no markup at all"),
    ("<p>a<!-- comment --> b<!-- unterminated", "a b"),
])
def test_html_flattening(html: str, text: str):
    assert html_text(html) == text


@pytest.mark.parametrize(("line", "place"), [
    ("New York (dpa) - ", ("New York", None)),
    ("Gaza City, Palestinian Territories, May 16, 2021 (AFP) -",
     ("Gaza City", "Palestinian Territories")),
    ("GROSSETO, Italy (AP) --", ("GROSSETO", "Italy")),
    ("KABOUL, 15 août (AFP) –", ("KABOUL", None)),
    ("Unnao", ("Unnao", None)),
    ("(dpa) -", None),
    ("", None),
])
def test_dateline_parsing(line: str, place: tuple[str, str | None] | None):
    parsed = parse_dateline(line)
    assert (None if parsed is None else (parsed["city"], parsed.get("country"))) == place


# --- Whatever the bytes --------------------------------------------------------------------


def outcome(raw: bytes, declared: str | None = None) -> str:
    """What a document gives: dispatches, or the reason of the one error allowed."""
    try:
        dispatches, problems = parse_agency_document(raw, declared)
    except AgencyDocumentError as error:
        assert error.reason in REASONS and error.message
        return error.reason
    assert dispatches and all(isinstance(item, Dispatch) for item in dispatches)
    assert all(isinstance(problem, ItemProblem) and problem.reason in REASONS
               for problem in problems)
    return "dispatch"


SAMPLE_BYTES = {name: sample(name) for name in SAMPLE_FILES}
declared_formats = st.sampled_from([None, *FORMATS])


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), declared_formats)
def test_random_bytes_give_dispatches_or_the_error(raw: bytes, declared: str | None):
    outcome(raw, declared)


@settings(max_examples=250, deadline=None)
@given(st.sampled_from(SAMPLE_FILES), st.data())
def test_mutated_samples_give_dispatches_or_the_error(name: str, data: st.DataObject):
    raw = bytearray(SAMPLE_BYTES[name])
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(raw)))
        end = data.draw(st.integers(start, min(len(raw), start + 40)))
        raw[start:end] = data.draw(st.sampled_from([
            b"", b"<", b">", b"&", b"\x00", b"\xff", b'"', b"<p>", b"</p>", b"<!--", b"]]>",
            b"&amp;", b"&#0;", b"\xc3", b"<br/>", b"<x:y>", b"\n\n", b"{", b"}", b",", b"null",
            data.draw(st.binary(max_size=8))]))
    outcome(bytes(raw), data.draw(declared_formats))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
JSON_SAMPLES = [name for name in SAMPLE_FILES if name.endswith(".json")]


@settings(max_examples=250, deadline=None)
@given(st.sampled_from(JSON_SAMPLES), st.data())
def test_json_samples_with_any_values_give_dispatches_or_the_error(name: str,
                                                                  data: st.DataObject):
    """Type confusion: any key of a ninjs or digitalwires document (or of the objects in its
    lists) given any JSON value."""
    document: Any = json.loads(SAMPLE_BYTES[name])
    for _ in range(data.draw(st.integers(1, 3))):
        target = document
        bodies = document.get("bodies")
        if isinstance(bodies, list) and any(isinstance(body, dict) for body in bodies) and (
                data.draw(st.booleans())):
            target = data.draw(st.sampled_from([body for body in bodies
                                                if isinstance(body, dict)]))
        key = data.draw(st.sampled_from([*sorted(target), "uri", "language", "version"]))
        target[key] = data.draw(json_values)
    outcome(json.dumps(document).encode())


def test_a_kill_notice_without_text_stands_for_its_headline():
    """Agencies send kills (canceled) and holds (withheld) with no body: they must still
    reach the worker, to retract the story's alerts. A usable item without text does not."""
    document = json.loads(sample("ninjs/ninjs2.1_dpa_text.json"))
    del document["bodies"]
    for status in ("canceled", "withheld"):
        [dispatch], _ = parse_agency_document(
            json.dumps({**document, "pubstatus": status}).encode())
        assert dispatch.pub_status == status
        assert dispatch.body == dispatch.headline and dispatch.body
    with pytest.raises(AgencyDocumentError) as caught:
        parse_agency_document(json.dumps(document).encode())
    assert caught.value.reason == "no_text"
    no_headline = {k: v for k, v in document.items() if k != "headlines"}
    [dispatch], _ = parse_agency_document(
        json.dumps({**no_headline, "pubstatus": "canceled"}).encode())
    assert dispatch.body == "(canceled)"
    # A NewsML-G2 kill without any content, too.
    g2 = replaced("newsml-g2/dpa_eil.xml", ('qcode="stat:usable"', 'qcode="stat:canceled"'))
    g2_text = g2.decode("utf-8")
    start, end = g2_text.index("<contentSet"), g2_text.index("</contentSet>")
    [killed], _ = parse_agency_document(
        (g2_text[:start] + g2_text[end + len("</contentSet>"):]).encode("utf-8"))
    assert killed.pub_status == "canceled" and killed.body == killed.headline
