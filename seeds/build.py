"""Derive the seed feed (`seeds/feed.jsonl`) from the agency text files in `seeds/`.

Run `python -m seeds.build` after adding a text; a test fails while the feed is stale.
"""

from __future__ import annotations

import sys

from seeds import SEED_FEED, SEED_TEXTS
from streams.feeds.reader import read_feed


def render_feed() -> bytes:
    lines = []
    for item in read_feed(SEED_TEXTS):
        if item.error is not None:
            raise item.error
        assert item.dispatch is not None
        lines.append(item.dispatch.to_json_bytes() + b"\n")
    return b"".join(lines)


if __name__ == "__main__":
    SEED_FEED.write_bytes(render_feed())
    sys.stdout.write(f"wrote {SEED_FEED}\n")
