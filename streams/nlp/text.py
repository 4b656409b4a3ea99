"""Text normalisation shared by rule matching: case and accents folded, offsets kept."""

from __future__ import annotations

import unicodedata

# Typographic variants that wire copy mixes freely with their ASCII forms.
_EQUIVALENTS = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-",
                "\u2013": "-", "\u00a0": " ", "\u202f": " "}


def _fold_char(ch: str) -> str:
    ch = _EQUIVALENTS.get(ch, ch)
    base = unicodedata.normalize("NFD", ch)[0]
    lowered = base.lower()
    # One character in, one out, so that match offsets are offsets in the original text.
    return lowered[0] if len(lowered) >= 1 else base


class _FoldTable(dict[int, str]):
    """A `str.translate` table that computes each character's folding once, on first use."""

    def __missing__(self, codepoint: int) -> str:
        folded = self[codepoint] = _fold_char(chr(codepoint))
        return folded


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """Lower-case, accent-free, ASCII-punctuated copy of `text` of exactly the same length.

    "Élysée’s" -> "elysee's". Rules are written against folded text, so "Etats-Unis" and
    "États-Unis" match the same pattern, and a match's offsets hold in the original text.
    """
    return text.translate(_FOLD_TABLE)


def strip_accents(text: str) -> str:
    """`text` without its accents, case kept ("Élysée" -> "Elysee"): the spellings wire copy
    uses for the same name. Unlike `fold`, it may change the length ("œ" -> "oe")."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text)
                   if unicodedata.category(ch) != "Mn").replace("Œ", "OE").replace("œ", "oe")
