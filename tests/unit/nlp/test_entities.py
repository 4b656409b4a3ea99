"""The entity pipeline on a small gazetteer written here: loading, repairs, linking, summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from schemas import Entity
from streams.nlp.datafiles import DataFileError
from streams.nlp.entities import build_nlp, entities_of, gazetteer_index, summarize_entities
from streams.nlp.gazetteer_files import GAZETTEER_DIR, alias_variants, load_gazetteer

GAZETTEER = """\
version: "test"
entities:
  - qid: Q7184
    name: NATO
    type: ORG
    aliases: [Otan, OTAN, NATO]
  - qid: Q1871218
    name: Lloyd Austin
    type: PER
    aliases: [Lloyd Austin]
  - qid: Q142
    name: France
    type: LOC
    aliases: [France]
  - qid: Q30
    name: United States
    type: LOC
    aliases: [États-Unis]
"""


@pytest.fixture(scope="module")
def small_gazetteer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gazetteer folder with a few entities and the project's word lists."""
    folder = tmp_path_factory.mktemp("gazetteer")
    (folder / "entities.yaml").write_text(GAZETTEER, encoding="utf-8")
    for word_list in GAZETTEER_DIR.glob("*.txt"):
        shutil.copy(word_list, folder / word_list.name)
    return folder


@pytest.fixture(scope="module")
def nlp(small_gazetteer, settings):
    return build_nlp(settings.spacy_model, gazetteer_dir=small_gazetteer)


def found(nlp, text: str) -> list[tuple[str, str, str | None]]:
    return [(e.text, e.label, e.wikidata_id)
            for e in entities_of(nlp(text), "body", gazetteer_index(nlp))]


def test_role_glued_to_a_name_is_stripped_and_the_name_is_a_person(nlp):
    assert found(nlp, "Le secrétaire à la Défense Lloyd Austin est arrivé mardi.") == [
        ("Lloyd Austin", "PER", "Q1871218")]


def test_an_organisation_and_a_name_are_not_merged(nlp):
    ents = found(nlp, "Plusieurs messages sont attendus à l'issue de la réunion lors de la "
                      "conférence de presse du secrétaire général de l'Otan Jens Stoltenberg et "
                      "par les deux ministres américains, a-t-on appris de source diplomatique.")
    assert ("Otan", "ORG", "Q7184") in ents
    assert [e for e in ents if "Stoltenberg" in e[0]] == [("Jens Stoltenberg", "PER", None)]


def test_demonyms_and_roles_are_not_entities_and_articles_are_not_in_them(nlp):
    ents = found(nlp, "La France a reçu les Américains et les ministres de la Défense.")
    assert ents == [("France", "LOC", "Q142")]


def test_spelling_variants_link_to_the_same_id(nlp):
    assert {e[2] for e in found(nlp, "Les Etats-Unis et les États-Unis.")} == {"Q30"}
    assert {e[2] for e in found(nlp, "L'OTAN et l'Otan.")} == {"Q7184"}


def test_unknown_entities_are_kept_without_an_id(nlp):
    assert ("Jean-Yves Le Drian", "PER", None) in found(
        nlp, "Le chef de la diplomatie française Jean-Yves Le Drian est en Inde.")


def test_alias_variants_cover_accents_apostrophes_and_sentence_case():
    assert {"États-Unis", "Etats-Unis"} <= alias_variants("États-Unis")
    assert {"Conseil de l'Europe", "Conseil de l’Europe"} <= alias_variants("Conseil de l'Europe")
    assert "Talibans" in alias_variants("talibans")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("qid: Q142", "qid: 142"), "qid"),
        (lambda t: t.replace("qid: Q30", "qid: Q142"), "Q142 is listed twice"),
        (lambda t: t.replace("aliases: [France]", "aliases: [France, Otan]"),
         r"alias 'Otan' of France \(Q142\) is also an alias of NATO \(Q7184\)"),
        (lambda t: t.replace("type: LOC\n    aliases: [France]",
                             "type: PLACE\n    aliases: [France]"), "type"),
    ],
)
def test_gazetteer_mistakes_are_reported_with_file_and_line(tmp_path, edit, message):
    path = tmp_path / "entities.yaml"
    path.write_text(edit(GAZETTEER), encoding="utf-8")
    with pytest.raises(DataFileError, match=message) as raised:
        load_gazetteer(path)
    assert raised.value.line is not None and str(raised.value).startswith(f"{path}:")


def test_summary_counts_mentions_and_ranks_headline_then_lead_then_frequency():
    def mention(text, field, start, qid=None, label="LOC"):
        return Entity(text=text, label=label, field=field, start=start, end=start + len(text),
                      canonical={"Q212": "Ukraine"}.get(qid or ""), wikidata_id=qid)

    entities = [mention("Kiev", "body", 0), mention("Kiev", "body", 50),
                mention("Kiev", "body", 90), mention("Ukraine", "body", 10, "Q212"),
                mention("Zelensky", "headline", 0, label="PER"),
                mention("Ukraine", "body", 80, "Q212")]
    summary = summarize_entities(entities, lead_end=20)
    assert [(s.name, s.mentions, s.in_headline, s.in_lead) for s in summary] == [
        ("Zelensky", 1, True, False), ("Kiev", 3, False, True), ("Ukraine", 2, False, True)]
