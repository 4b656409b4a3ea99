"""`wirewatch eval` and `wirewatch eval-entities`: quality on labelled sets."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from faust.cli import AppCommand, argument, option

from streams.nlp.datafiles import DataFileError
from streams.nlp.enrich import NLP_BATCH_SIZE, Enricher
from streams.nlp.entities import build_nlp, entities_of, gazetteer_index
from streams.nlp.gazetteer_files import load_gazetteer
from streams.nlp.rules import load_definitions
from streams.quality.entities import (
    EntityReport,
    PredictedEntity,
    format_entity_report,
    read_entity_examples,
    score_example,
)
from streams.quality.topics import (
    evaluate_anchor,
    evaluate_topics,
    format_topic_report,
    read_labelled_dispatches,
)
from streams.worker.app import app

if TYPE_CHECKING:
    from spacy.language import Language
from streams.cli.common import fail, settings

PIPELINES = ("wirewatch", "ner-only", "raw")


def _load_pipeline(kind: str) -> Language:
    """wirewatch: gazetteer + NER + repairs; ner-only: the model's NER alone; raw: the model
    as shipped, every component."""
    if kind == "raw":
        import spacy

        return spacy.load(settings.spacy_model)
    return build_nlp(settings.spacy_model, curated=kind == "wirewatch")


@app.command(
    argument("path", type=Path),
    option("--pipeline", "kind", type=click.Choice(list(PIPELINES)), default="wirewatch",
           help="wirewatch (gazetteer, NER, repairs), ner-only (the model's NER alone) or raw "
                "(the model as shipped, all components)."),
    option("--json", "as_json", is_flag=True, default=False,
           help="Print the scores as one JSON object."),
    option("--errors", "show_errors", is_flag=True, default=False,
           help="Also list, per text, the mentions missed and the spurious ones."),
)
async def eval_entities(self: AppCommand, path: Path, kind: str, as_json: bool,
                        show_errors: bool) -> None:
    """Score entity recognition and linking on an annotated file.

    PATH holds JSON lines {"text": ..., "entities": [{"text", "label", "canonical"?}]}, every
    mention listed (as often as it occurs). Prints precision, recall and F1 per label (PER,
    ORG, LOC) and overall, and the share of mentions of gazetteer entities linked to the
    right Wikidata id (canonical may be the gazetteer name or the Wikidata id).
    """
    try:
        examples = read_entity_examples(path)
    except (OSError, DataFileError) as exc:
        raise fail(str(exc)) from None
    nlp = _load_pipeline(kind)
    # Linking is scored on the gazetteer entities that have a Wikidata id.
    entries = [e for e in (gazetteer_index(nlp) or load_gazetteer().by_key()).values() if e.qid]
    known = {e.name: e.qid for e in entries if e.qid} | {e.qid: e.qid for e in entries if e.qid}
    index = gazetteer_index(nlp)
    report = EntityReport()
    began = time.perf_counter()
    docs = nlp.pipe([example.text for example in examples], batch_size=NLP_BATCH_SIZE)
    for example, doc in zip(examples, docs, strict=True):
        predicted = [PredictedEntity(e.text, e.label, e.canonical, e.wikidata_id)
                     for e in entities_of(doc, "body", index)]
        score_example(example.entities, predicted, known, report, example.id)
    seconds = time.perf_counter() - began
    if as_json:
        print(json.dumps({"pipeline": kind, "texts": len(examples),
                          "seconds": round(seconds, 3), **report.as_dict()}, indent=2))
    else:
        print(format_entity_report(
            report, f"{path}: {len(examples)} texts, pipeline {kind} ({seconds:.1f}s)"))
        if show_errors:
            for error in report.errors:
                print(f"\n{error['id']}\n  missed:   {', '.join(error['missed'])}"
                      f"\n  spurious: {', '.join(error['spurious'])}")


@app.command(
    argument("path", type=Path),
    option("--json", "as_json", is_flag=True, default=False,
           help="Print the scores and errors as one JSON object."),
    option("--quiet", "-q", "no_errors", is_flag=True, default=False,
           help="Only the scores, not the list of false positives and negatives."),
    option("--anchor", is_flag=True, default=False,
           help="Also score the keyword anchor (keywords in the headline and first 60 "
                "words) on the same items: the baseline any rule set must beat."),
)
async def eval(self: AppCommand, path: Path, as_json: bool, no_errors: bool,
               anchor: bool) -> None:
    """Score topic classification on labelled dispatches.

    PATH holds JSON lines of Dispatch objects that also carry "labels": [topic, ...], the
    watched topics each belongs to. They are classified through the worker's code path;
    prints precision, recall and F1 per topic and macro-averaged, overall and for short
    (<= 60 words) and long (>= 400 words) items, how many alerts stood on the headline, the
    lead or the body, then every false positive and false negative with its score and the
    evidence that scored it.
    """
    try:  # a bad file is reported before the model takes seconds to load
        items = read_labelled_dispatches(path, [d.topic for d in load_definitions()])
    except (OSError, DataFileError) as exc:
        raise fail(str(exc)) from None
    enricher = Enricher.from_settings(settings.spacy_model)
    began = time.perf_counter()
    report = evaluate_topics(enricher, items)
    seconds = time.perf_counter() - began
    baseline = evaluate_anchor(items) if anchor else None
    if as_json:
        print(json.dumps({"dispatches": len(items), "seconds": round(seconds, 3),
                          **report.as_dict(),
                          **({"anchor": baseline.as_dict()} if baseline else {})},
                         indent=2, ensure_ascii=False))
        return
    print(format_topic_report(report, f"{path}: {len(items)} dispatches ({seconds:.1f}s)",
                              show_errors=not no_errors))
    if baseline:
        print()
        print(format_topic_report(baseline, "keyword anchor, same items", show_errors=False))
