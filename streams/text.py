"""Text normalisation shared by rule matching: case and accents folded, offsets kept."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Typographic variants that wire copy mixes freely with their ASCII forms.
_EQUIVALENTS = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-",
                "\u2013": "-", "\u00a0": " ", "\u202f": " "}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    ch = _EQUIVALENTS.get(ch, ch)
    base = unicodedata.normalize("NFD", ch)[0]
    lowered = base.lower()
    # One character in, one out, so that match offsets are offsets in the original text.
    return lowered[0] if len(lowered) >= 1 else base


def fold(text: str) -> str:
    """Lower-case, accent-free, ASCII-punctuated copy of `text` of exactly the same length.

    "Élysée’s" -> "elysee's". Rules are written against folded text, so "Etats-Unis" and
    "États-Unis" match the same pattern, and a match's offsets hold in the original text.
    """
    return "".join(_fold_char(ch) for ch in text)
