"""Topic definition files: the shipped ones load, and mistakes are reported with file and line."""

from __future__ import annotations

import pytest

from streams.nlp.rules import RULES_DIR, RuleError, load_definition, load_definitions

VALID = """\
topic: {name}
version: "1"
description: test topic
threshold: 0.5
saturation: 2.0
patterns:
  - rule: a
    weight: 2.0
    regex: 'retrait'
"""


def test_shipped_definitions_are_the_three_watched_topics():
    assert [d.topic for d in load_definitions()] == ["iran-deal", "russia-ukraine", "withdrawal"]


def test_adding_a_topic_is_adding_a_file(tmp_path):
    (tmp_path / "piracy.yaml").write_text(VALID.format(name="piracy"), encoding="utf-8")
    for existing in RULES_DIR.glob("*.yaml"):
        (tmp_path / existing.name).write_text(existing.read_text(encoding="utf-8"),
                                              encoding="utf-8")
    assert "piracy" in [d.topic for d in load_definitions(tmp_path)]


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        (lambda t: t.replace("threshold: 0.5", "threshold: 1.5"), 4, "threshold"),
        (lambda t: t.replace("regex: 'retrait'", "regex: 'retrait('"), 9,
         "invalid regular expression"),
        (lambda t: t.replace("regex: 'retrait'", "regex: 'Retrait'"), 9, "lower case"),
        (lambda t: t.replace("    weight: 2.0\n", ""), 7, "weight: Field required"),
        (lambda t: t.replace("weight: 2.0", "weight: .inf"), 8, "weight: Input should be a finite"),
        (lambda t: t.replace("saturation: 2.0", "saturation: 2.0\nsurprise: 1"), 6,
         "Extra inputs"),
        (lambda t: t.replace("topic: demo", "topic: other"), 1, "must match the name"),
        (lambda t: t.replace("patterns:", "patterns: [\n"), None, "not valid YAML"),
        (lambda t: t.replace("regex: 'retrait'", "regex: '{nope} retrait'"), 9,
         "no lexicon entry named 'nope'"),
        (lambda t: t.replace("regex: 'retrait'", "regex: 'retrait'\n    within: 3"), 7,
         "`within` goes with `all_of`"),
    ],
)
def test_mistakes_are_reported_with_file_and_line(tmp_path, edit, line, message):
    path = tmp_path / "demo.yaml"
    path.write_text(edit(VALID.format(name="demo")), encoding="utf-8")
    with pytest.raises(RuleError, match=message) as raised:
        load_definition(path)
    if line is not None:
        assert raised.value.line == line
        assert str(raised.value).startswith(f"{path}:{line}: ")


def test_lexicon_entries_stand_for_their_words_in_patterns(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(VALID.format(name="demo").replace(
        "patterns:", "lexicon:\n  troops: 'troupes|soldats'\npatterns:").replace(
        "regex: 'retrait'", "regex: 'retrait des {troops}'"), encoding="utf-8")
    [pattern] = load_definition(path).patterns
    assert pattern.regex == "retrait des (?:troupes|soldats)"


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(RuleError, match="no topic definition files"):
        load_definitions(tmp_path)
