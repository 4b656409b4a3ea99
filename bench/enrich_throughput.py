"""Enrichment throughput against the raw model's NER alone, side by side in one run.

    .venv/bin/python bench/enrich_throughput.py [DISPATCHES.jsonl ...] [--rounds 5]

Each round times, on the same texts and in alternating order (so that machine noise hits
both alike): the raw spaCy model with every component (as shipped), the raw model's NER
alone, and wirewatch's enrichment (gazetteer, NER, repairs, linking, classification, schema
objects: what `wirewatch enrich` and the worker run). Prints dispatches per second (median
of the rounds) and the ratio enrichment / NER-only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas import Dispatch  # noqa: E402
from schemas.models import utc_now  # noqa: E402
from streams.nlp.enrich import NLP_BATCH_SIZE, Enricher  # noqa: E402
from streams.nlp.entities import NER_ONLY_EXCLUDE, build_nlp  # noqa: E402
from streams.nlp.rules import load_definitions  # noqa: E402

DEFAULT_INPUTS = [ROOT / "tests" / "data" / "topics" / "team-dev.jsonl"]


def read_dispatches(paths: list[Path]) -> list[Dispatch]:
    dispatches = []
    for path in paths:
        for line in path.read_bytes().splitlines():
            if line.strip():
                dispatches.append(Dispatch.model_validate_json(line))
    return dispatches


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="*", type=Path, default=DEFAULT_INPUTS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="fr_core_news_sm")
    args = parser.parse_args()

    import spacy

    dispatches = read_dispatches(args.inputs)
    texts = [t for d in dispatches for t in ((d.headline or ""), d.body)]
    words = sum(len(d.body.split()) for d in dispatches)
    full = spacy.load(args.model)
    ner_only = spacy.load(args.model, exclude=list(NER_ONLY_EXCLUDE))
    enricher = Enricher(build_nlp(args.model), load_definitions())
    now = utc_now()
    batch = [(d, now) for d in dispatches]
    contenders: dict[str, Callable[[], object]] = {
        "raw model, all components": lambda: list(full.pipe(texts, batch_size=NLP_BATCH_SIZE)),
        "raw model, NER only": lambda: list(ner_only.pipe(texts, batch_size=NLP_BATCH_SIZE)),
        "wirewatch enrichment": lambda: enricher.enrich_many(batch),
    }
    for run in contenders.values():  # warm-up
        run()
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for round_number in range(args.rounds):
        order = list(contenders) if round_number % 2 == 0 else list(reversed(contenders))
        for name in order:
            seconds[name].append(timed(contenders[name]))
    print(f"{len(dispatches)} dispatches, {words} words, {args.rounds} rounds "
          f"(median), spaCy {spacy.__version__}, {args.model} {ner_only.meta['version']}")
    rates = {name: len(dispatches) / statistics.median(times) for name, times in seconds.items()}
    for name, rate in rates.items():
        print(f"  {name:<28}{rate:8.1f} dispatches/s {rate * words / len(dispatches):9.0f} "
              "words/s")
    ratio = rates["wirewatch enrichment"] / rates["raw model, NER only"]
    print(f"  enrichment / NER-only = {ratio:.3f}   "
          f"(NER-only / all components = "
          f"{rates['raw model, NER only'] / rates['raw model, all components']:.2f}x)")


if __name__ == "__main__":
    main()
