"""Evaluation: the scoring arithmetic, and the `eval` / `eval-entities` commands."""

from __future__ import annotations

import json

from streams.quality.entities import (
    EntityReport,
    GoldEntity,
    PredictedEntity,
    format_entity_report,
    score_example,
)
from streams.quality.scores import PRF
from streams.quality.topics import evaluate_topics, format_topic_report, read_labelled_dispatches
from tests.helpers import run


def test_entity_mentions_match_as_multisets_of_text_and_label():
    report = EntityReport()
    gold = [GoldEntity(text="Kiev", label="LOC"), GoldEntity(text="Kiev", label="LOC"),
            GoldEntity(text="Otan", label="ORG", canonical="NATO")]
    predicted = [PredictedEntity("Kiev", "LOC", None, None),
                 PredictedEntity("Otan", "LOC", None, None),  # wrong label
                 PredictedEntity("Moscou", "LOC", None, None)]
    score_example(gold, predicted, {"NATO": "Q7184"}, report)
    loc, org = report.by_label["LOC"], report.by_label["ORG"]
    assert (loc.true_positives, loc.false_positives, loc.false_negatives) == (1, 2, 1)
    assert (org.true_positives, org.false_positives, org.false_negatives) == (0, 0, 1)
    assert (report.linked_correctly, report.linkable) == (0, 1)


def test_linking_counts_gold_mentions_of_gazetteer_entities_by_name_or_id():
    report = EntityReport()
    gold = [GoldEntity(text="Otan", label="ORG", canonical="NATO"),
            GoldEntity(text="OTAN", label="ORG", canonical="Q7184"),
            GoldEntity(text="Jean Dupont", label="PER", canonical="Jean Dupont")]
    predicted = [PredictedEntity("Otan", "ORG", "NATO", "Q7184"),
                 PredictedEntity("OTAN", "ORG", None, None),
                 PredictedEntity("Jean Dupont", "PER", None, None)]
    score_example(gold, predicted, {"NATO": "Q7184", "Q7184": "Q7184"}, report)
    assert (report.linked_correctly, report.linkable) == (1, 2)
    assert report.overall.f1 == 1.0


def test_prf_of_nothing_is_zero_not_an_error():
    assert (PRF().precision, PRF().recall, PRF().f1) == (0.0, 0.0, 0.0)


def test_eval_entities_command_prints_scores_per_label_and_linking(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({
        "text": "Le secrétaire général de l'Otan Jens Stoltenberg est arrivé à Bruxelles.",
        "entities": [{"text": "Otan", "label": "ORG", "canonical": "NATO"},
                     {"text": "Jens Stoltenberg", "label": "PER",
                      "canonical": "Jens Stoltenberg"},
                     {"text": "Bruxelles", "label": "LOC"}]}) + "\n", encoding="utf-8")
    result = run("eval-entities", str(path), "--json")
    assert result.returncode == 0, result.stderr.decode()
    scores = json.loads(result.stdout)
    assert set(scores["labels"]) == {"PER", "ORG", "LOC"}
    assert scores["overall"]["support"] == 3
    assert scores["linking"]["linkable"] >= 1
    text = format_entity_report(EntityReport(), "title")  # the text form, without a model
    assert "overall" in text and "linking accuracy" in text


def test_eval_entities_reports_a_bad_line(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"text": "x", "entities": [{"label": "PER"}]}\n', encoding="utf-8")
    result = run("eval-entities", str(path))
    assert result.returncode == 1
    assert f"{path}:1: entities.0.text: Field required" in result.stderr.decode()


def test_eval_command_scores_topics_by_length_and_explains_errors(tmp_path, enricher):
    filler = " ".join(["Le conseil municipal a examiné le budget de la voirie."] * 45)
    lines = [
        {"id": "w1", "language": "fr", "labels": ["withdrawal"],
         "headline": "Les derniers soldats américains ont quitté l'Afghanistan",
         "body": "Le retrait des troupes s'est achevé lundi soir après vingt ans de guerre."},
        {"id": "n1", "language": "fr", "labels": [],
         "body": "Le festival de Cannes s'ouvre mardi sous un grand soleil."},
        {"id": "i1", "language": "fr", "labels": ["iran-deal"],
         "body": "La météo sera belle à Téhéran."},  # a deliberate false negative
        {"id": "long1", "language": "fr", "labels": [], "headline": "Budget de la voirie",
         "body": filler + "\n\nDepuis le départ des troupes françaises du Mali, le "
                 "jumelage avec Gao est suspendu."},  # a passing mention: no alert
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = run("eval", str(path), "--json", "--anchor")
    assert result.returncode == 0, result.stderr.decode()
    scores = json.loads(result.stdout)
    assert scores["topics"]["withdrawal"]["f1"] == 1.0
    assert scores["items"] == {"short": 3, "long": 1}
    assert scores["by_length"]["short"]["topics"]["withdrawal"]["true_positives"] == 1
    assert scores["by_length"]["long"]["topics"]["withdrawal"]["false_positives"] == 0
    assert scores["alerts_by_salience"]["headline"]["withdrawal"] == {"right": 1, "wrong": 0}
    [miss] = scores["false_negatives"]
    assert (miss["id"], miss["topic"], miss["words"]) == ("i1", "iran-deal", 6)
    assert scores["anchor"]["topics"]["withdrawal"]["true_positives"] == 1  # "retrait des troupes"
    assert scores["anchor"]["topics"]["iran-deal"]["false_negatives"] == 1
    report = evaluate_topics(enricher, read_labelled_dispatches(path, enricher.topics))
    text = format_topic_report(report, "title")  # the text form, in process: no model load
    assert "macro" in text and "false negative: i1 iran-deal" in text
    assert "short (3)" in text and "long (1)" in text
    assert "headline 1 right / 0 wrong" in text


def test_eval_rejects_unknown_topics(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text(json.dumps({"id": "x", "language": "fr", "body": "Texte.",
                                "labels": ["piracy"]}) + "\n", encoding="utf-8")
    result = run("eval", str(path))
    assert result.returncode == 1
    assert "unknown topic(s) ['piracy']" in result.stderr.decode()
