"""The watches in force from the records of the watches topic, without Kafka."""

from __future__ import annotations

import logging

import pytest

from streams.nlp.rules import RULES_DIR
from streams.nlp.watch_book import InvalidWatch, WatchBook, parse_watch

WITHDRAWAL = (RULES_DIR / "withdrawal.yaml").read_bytes()
ENTITY = b'watch: biden\nkind: entity\nversion: "1"\nentities: [Q6279]\nsalience: mentions\n'


def test_records_add_change_and_remove_watches():
    book = WatchBook()
    assert book.apply(b"withdrawal", WITHDRAWAL, "watches[0]@0")
    assert book.apply(b"biden", ENTITY, "watches[0]@1")
    assert [d.topic for d in book.topic_definitions()] == ["withdrawal"]
    assert [w.watch for w in book.entity_watches()] == ["biden"]
    assert not book.apply(b"biden", ENTITY, "watches[0]@2"), "the same again changes nothing"
    assert book.apply(b"biden", ENTITY.replace(b'"1"', b'"2"'), "watches[0]@3")
    assert book.versions()["biden"] == "2"
    assert book.apply(b"biden", None, "watches[0]@4")  # a tombstone
    assert book.entity_watches() == ()


def test_an_invalid_record_keeps_the_last_good_version_and_says_why(caplog):
    book = WatchBook()
    book.apply(b"withdrawal", WITHDRAWAL, "watches[0]@0")
    good = book.watches["withdrawal"]
    broken = WITHDRAWAL.replace(b"threshold:", b"threshold: 7\nthresh0ld:", 1)
    with caplog.at_level(logging.ERROR):
        assert not book.apply(b"withdrawal", broken, "watches[0]@5")
    assert book.watches["withdrawal"] is good
    assert "watches[0]@5" in book.refused["withdrawal"]
    assert "stays in force" in caplog.text


@pytest.mark.parametrize(("raw", "problem"), [
    (b"\xff\xfe", "not UTF-8"),
    (b"topic: [unclosed", "not valid YAML"),
    (ENTITY.replace(b"[Q6279]", b"[Biden]"), r"biden\.yaml:4: .*entities"),
    (ENTITY.replace(b"watch: biden", b"watch: obama"), "must match the name"),
])
def test_parse_watch_names_the_problem(raw: bytes, problem: str):
    with pytest.raises(InvalidWatch, match=problem):
        parse_watch("biden", raw, "biden.yaml")


def test_a_topic_definition_error_names_the_line():
    broken = WITHDRAWAL.replace(b"threshold: ", b"threshold: 7 #", 1)
    with pytest.raises(InvalidWatch, match=r"withdrawal\.yaml:\d+: .*threshold"):
        parse_watch("withdrawal", broken, "withdrawal.yaml")
