"""Regenerate the README's generated blocks, from the code that they describe.

- `settings`: one table of every setting, from the settings model (`streams/settings.py`).
- `alert-example`: what `make run` prints for the seed feed: the seed dispatches enriched by
  the worker's code and its alerts rendered by `wirewatch subscribe`'s renderer.

Run `make readme` after changing either; `tests/unit/test_docs.py` fails while the README is
stale, and the `make run` test checks the example against a real run's output.
Usage: python scripts/readme.py [--check]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z-]+) [^>]*-->\n)(?P<body>.*?)"
                   r"(<!-- end:(?P=name) -->)", re.DOTALL)


def _shown_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def settings_table() -> str:
    """Every setting: its variable, default and description, in the model's order."""
    from streams.settings import Settings

    rows = ["| variable | default | what it sets |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `WIREWATCH_{name.upper()}` | {_shown_default(field.default)} | "
                    f"{description} |")
    return "\n".join(rows) + "\n"


def seed_alerts() -> list[str]:
    """The alerts of the seed feed as `wirewatch subscribe` prints them, in watched-topic
    order: the worker's own code (enricher, alert building) and the CLI's renderer."""
    from seeds import SEED_FEED
    from streams.cli.subscribe import render_alert
    from streams.feeds.reader import read_feed
    from streams.nlp.enrich import Enricher
    from streams.settings import Settings
    from streams.worker.stories import follow_story

    settings = Settings()
    enricher = Enricher.from_settings(settings.spacy_model)
    rendered = []
    for item in read_feed([SEED_FEED]):
        assert item.dispatch is not None, item.error
        enriched = enricher.enrich(item.dispatch)
        rendered += [render_alert(alert) for alert in
                     follow_story(None, enriched, settings.top_entities_in_alert).alerts]
    return rendered


def alert_example() -> str:
    return "```\n" + "\n\n".join(seed_alerts()) + "\n```\n"


GENERATORS = {"settings": settings_table, "alert-example": alert_example}


def regenerated(text: str) -> str:
    """`text` with every generated block rewritten."""
    def replace(match: re.Match[str]) -> str:
        return match.group(1) + GENERATORS[match.group("name")]() + match.group(4)

    return BLOCK.sub(replace, text)


def blocks(text: str) -> dict[str, str]:
    return {match.group("name"): match.group("body") for match in BLOCK.finditer(text)}


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = regenerated(text)
    if "--check" in argv:
        stale = [name for name, body in blocks(new).items() if blocks(text).get(name) != body]
        if stale:
            print(f"README.md is stale ({', '.join(stale)}): run `make readme`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(README.parent))
    raise SystemExit(main(sys.argv[1:]))
