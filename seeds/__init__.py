"""The seed feed: the seed dispatch as the agency sent it, and the feed derived from it."""

from pathlib import Path

SEED_DIR = Path(__file__).resolve().parent
SEED_TEXTS = tuple(sorted(SEED_DIR.glob("*.txt")))
# JSON lines of Dispatch, made from SEED_TEXTS by `python -m seeds.build`.
SEED_FEED = SEED_DIR / "feed.jsonl"
