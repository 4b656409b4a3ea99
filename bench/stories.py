"""What following stories costs the worker: the same corpus as plain dispatches and as the
versions of agency stories, side by side in one run.

    .venv/bin/python bench/stories.py [--dispatches 1000] [--versions 5] [--rounds 2]

Needs the local broker (`wirewatch broker start`). The corpus is bench/pipeline.py's
(French dispatches of 100-800 words, seeded). Run A sends it as plain JSON dispatches (each
its own story: nothing is remembered). Run B sends the same texts as the versions of agency
stories (`--versions` per story, `story_id` and `version` set, keyed by story), so that the
worker reads each story's state, publishes its revisions, waits for their delivery and
writes the new state to the changelog. One worker process each time, alternating A and B
for `--rounds` rounds; prints the median throughput of each and the ratio B / A.
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

from schemas import Dispatch  # noqa: E402
from streams.settings import Settings  # noqa: E402


def as_stories(corpus: list[Dispatch], versions: int) -> list[Dispatch]:
    """The same texts as versions 1..`versions` of consecutive stories, in order."""
    return [d.model_copy(update={"id": f"{d.id}-story:{n % versions + 1}",
                                 "story_id": f"{d.id.rsplit('-', 1)[0]}-story-{n // versions}",
                                 "version": n % versions + 1})
            for n, d in enumerate(corpus)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispatches", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    plain = make_corpus(args.dispatches, args.seed)
    rates = side_by_side(Settings(), {
        "A": (plain, False, {}),
        "B": (as_stories(plain, args.versions), True, {}),
    }, args.rounds)
    plain_rate, story_rate = rates["A"], rates["B"]
    print(f"| run | dispatches/s (median of {args.rounds}) |\n| --- | ---: |\n"
          f"| A plain dispatches (each its own story) | {plain_rate:.1f} |\n"
          f"| B versions of agency stories ({args.versions} per story) | {story_rate:.1f} |\n"
          f"| B / A | {story_rate / plain_rate:.2f} |")


if __name__ == "__main__":
    main()
