"""The agency header parser and feed reading."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seeds import SEED_TEXTS
from streams.feeds.reader import FeedError, dispatch_id_for_file, parse_header_dispatch, read_feed

HEADER = "date 2021-04 Bruxelles, Belgique | AFP | mercredi 14/04/2021 - "


def test_seed_dispatch_parses_with_dateline_agency_date_and_body(seed_dispatch):
    assert seed_dispatch.id == "702952208b099811"
    assert seed_dispatch.language == "fr"
    assert seed_dispatch.agency == "AFP"
    assert seed_dispatch.dateline is not None
    assert (seed_dispatch.dateline.city, seed_dispatch.dateline.country) == (
        "Bruxelles", "Belgique")
    assert seed_dispatch.published_at == datetime(2021, 4, 14, tzinfo=UTC)
    assert seed_dispatch.body.startswith("Le chef de la diplomatie américaine Antony Blinken")
    assert seed_dispatch.body.rstrip().endswith("est attendu sur cette séquence, a-t-on indiqué.")
    # the wire's blank-line padding becomes one blank line between paragraphs
    assert "\n\n\n" not in seed_dispatch.body
    assert len(seed_dispatch.body.split("\n\n")) == 13  # paragraphs of the dispatch


def test_header_without_weekday_and_with_en_dash_is_accepted():
    dispatch = parse_header_dispatch(
        "date 2022-02 Kiev, Ukraine | Reuters | 24/02/2022 – Les forces russes ont...",
        "x1")
    assert dispatch.agency == "Reuters"
    assert dispatch.dateline is not None and dispatch.dateline.city == "Kiev"
    assert dispatch.body == "Les forces russes ont..."


def test_dateline_without_country_is_a_city():
    dispatch = parse_header_dispatch("date 2021-08 Kaboul | AFP | lundi 16/08/2021 - Texte.",
                                     "x2")
    assert dispatch.dateline is not None
    assert (dispatch.dateline.city, dispatch.dateline.country) == ("Kaboul", None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Bruxelles | AFP | mercredi 14/04/2021 - Texte", "must start with 'date YYYY-MM'"),
        ("date 2021-04 Bruxelles, Belgique | mercredi 14/04/2021 - Texte", "separator"),
        ("date 2021-13 Texte sans agence.", "not a real YYYY-MM month"),
        ("date 2021-04 Bruxelles, Belgique | AFP | mercredi 31/02/2021 - Texte",
         "not a real DD/MM/YYYY date"),
        ("date 2021-05 Bruxelles, Belgique | AFP | mercredi 14/04/2021 - Texte",
         "disagrees with its date"),
        ("date 2021-04 Bruxelles, Belgique |  | mercredi 14/04/2021 - Texte", "no agency"),
        ("date 2021-04 Bruxelles, Belgique | AFP | mercredi 14/04/2021 Texte", "does not read"),
        ("date 2021-04 Bruxelles, Belgique | AFP | mercredi 14/04/2021 -   \n\n  ", "no text"),
        ("", "must start with 'date YYYY-MM'"),
    ],
)
def test_malformed_headers_say_what_is_wrong(text, message):
    with pytest.raises(FeedError, match=message) as raised:
        parse_header_dispatch(text, "bad", source="feed.txt")
    assert str(raised.value).startswith("feed.txt: ")


def test_month_only_header_of_web_crawls_gives_headline_and_body():
    dispatch = parse_header_dispatch(
        " date 2020-10 Retrait des troupes : l’Otan quittera l’Afghanistan avec les Etats-Unis"
        "\n\nLes militaires de l’Alliance quitteront le pays.\n\nSecond paragraphe.", "w1")
    assert dispatch.headline == ("Retrait des troupes : l’Otan quittera l’Afghanistan avec les "
                                 "Etats-Unis")
    assert dispatch.body == "Les militaires de l’Alliance quitteront le pays.\n\nSecond paragraphe."
    assert (dispatch.agency, dispatch.dateline, dispatch.published_at) == (None, None, None)


def test_month_only_header_whose_first_paragraph_is_a_sentence_has_no_headline():
    dispatch = parse_header_dispatch(
        'date 2021-04 "Il est temps de ramener nos forces à la maison." Le chef de la '
        "diplomatie américaine l'a annoncé.\n\nSuite.", "w2")
    assert dispatch.headline is None
    assert dispatch.body.startswith('"Il est temps')


def test_id_is_the_file_name_after_its_sequence_number(tmp_path):
    assert dispatch_id_for_file(SEED_TEXTS[0]) == "702952208b099811"
    assert dispatch_id_for_file(tmp_path / "wire-42.txt") == "wire-42"


def test_folder_feed_reads_feed_files_in_name_order_and_keeps_bad_items_with_errors(write):
    write("001_a.txt", HEADER + "Premier texte.")
    write("002_b.jsonl", '{"id": "j1", "language": "fr", "body": "Deuxième."}\n')
    write("003_c.txt", "pas d'en-tête")
    folder = write("notes.md", "not a feed file").parent
    items = list(read_feed([folder]))
    assert [(i.dispatch.id if i.dispatch else None) for i in items] == ["a", "j1", None]
    assert items[2].error is not None and items[2].source.endswith("003_c.txt")


def test_json_lines_errors_name_the_line_and_the_field(write):
    path = write("feed.jsonl", '{"id": "j1", "language": "fr", "body": "Deuxième."}\n'
                               "\n"
                               "{not json\n"
                               '{"id": "j2", "language": "fr"}\n')
    items = list(read_feed([path]))
    assert [i.dispatch.id for i in items if i.dispatch] == ["j1"]
    errors = [str(i.error) for i in items if i.error]
    assert errors[0].startswith(f"{path}:3: ") and "Invalid JSON" in errors[0]
    assert errors[1].startswith(f"{path}:4: ") and "body: Field required" in errors[1]


def test_missing_feed_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such feed file or folder"):
        list(read_feed([tmp_path / "nope.jsonl"]))


def test_text_file_that_is_not_utf8_is_reported(write):
    items = list(read_feed([write("001_x.txt", HEADER.encode() + b"\xff\xfe caf\xe9")]))
    assert items[0].error is not None and "not UTF-8" in str(items[0].error)


def test_agency_documents_in_a_feed_are_kept_as_they_are_for_the_raw_topic(write):
    xml = write("item.xml", "<newsItem/>")
    ninjs = write("story.json", '{\n  "uri": "urn:x", "headline": "h"\n}\n')
    lines = write("feed.json", '{"id": "a", "language": "fr", "body": "Texte."}\n')
    items = list(read_feed([xml, ninjs, lines]))
    assert [item.document for item in items] == [b"<newsItem/>", ninjs.read_bytes(), None]
    assert items[2].dispatch is not None and items[2].dispatch.id == "a"
