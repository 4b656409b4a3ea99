"""What counting surges costs the worker: the same corpus with surges off and on, side by
side in one run.

    .venv/bin/python bench/surges.py [--dispatches 1000] [--rounds 2]

Needs the local broker (`wirewatch broker start`). The corpus is bench/pipeline.py's
(French dispatches of 100-800 words, seeded), as plain JSON dispatches. Run A has
`WIREWATCH_SURGES=false` (no sightings); run B the defaults: each dispatch publishes a
sighting per watch it is on and per one of its 3 most salient linked entities, and the same
worker counts them in its surge states and writes them to their changelog. One worker
process each time, alternating A and B for `--rounds` rounds; prints the median throughput
of each (dispatches enriched per second) and the ratio B / A.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from pipeline import make_corpus, side_by_side  # noqa: E402

from streams.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispatches", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    corpus = make_corpus(args.dispatches, args.seed)
    rates = side_by_side(Settings(), {
        "A": (corpus, False, {"WIREWATCH_SURGES": "false"}),
        "B": (corpus, False, {"WIREWATCH_SURGES": "true"}),
    }, args.rounds)
    off, on = rates["A"], rates["B"]
    print(f"| run | dispatches/s (median of {args.rounds}) |\n| --- | ---: |\n"
          f"| A surges off | {off:.1f} |\n| B surges on (the default) | {on:.1f} |\n"
          f"| B / A | {on / off:.2f} |")


if __name__ == "__main__":
    main()
