"""The curated gazetteer (entities with their Wikidata ids and aliases) and the word lists of
the entity repairs: their schema and loaders, which report a mistake with file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from streams.nlp.datafiles import DataFileError, load_yaml_model
from streams.nlp.text import fold, strip_accents

# The gazetteer folder: the curated entities (entities.yaml) and the word lists of the
# repairs (see `Lexicon`).
GAZETTEER_DIR = Path(__file__).resolve().parent / "gazetteer"


class GazetteerEntry(BaseModel):
    """One person, organisation or place, with its Wikidata id and its surface forms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    qid: Annotated[str, StringConstraints(pattern=r"^Q[1-9][0-9]*$")] | None = Field(
        description="Wikidata id; null while it is not verified (the entity is still found "
                    "and typed, and carries its canonical name, but no id)")
    name: Annotated[str, StringConstraints(min_length=1)]
    type: Literal["PER", "ORG", "LOC", "MISC"]
    aliases: list[Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)

    @property
    def key(self) -> str:
        """What identifies the entry: its Wikidata id, else its canonical name."""
        return self.qid or f"name:{self.name}"


class Gazetteer(BaseModel):
    """The curated gazetteer file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Annotated[str, StringConstraints(min_length=1)]
    entities: list[GazetteerEntry]

    def by_key(self) -> dict[str, GazetteerEntry]:
        return {entry.key: entry for entry in self.entities}


def alias_variants(alias: str) -> set[str]:
    """The spellings of an alias that wire copy uses interchangeably: with and without
    accents, with straight or curly apostrophes, capitalised at a sentence start."""
    forms = {alias, strip_accents(alias)}
    forms |= {form.replace("'", "’") for form in forms} | {form.replace("’", "'") for form in forms}
    if alias[:1].islower():
        forms |= {form[:1].upper() + form[1:] for form in forms}
    return forms


def load_gazetteer(path: Path = GAZETTEER_DIR / "entities.yaml") -> Gazetteer:
    """Load the gazetteer; a mistake (bad field, an id, name or alias used twice) raises
    `DataFileError` with the file and line."""
    gazetteer, lines = load_yaml_model(path, Gazetteer)
    seen: dict[str, tuple[str, int]] = {}
    owner: dict[str, str] = {}
    for position, entry in enumerate(gazetteer.entities):
        line = lines.get(("entities", position))
        for key in {entry.key, f"name:{entry.name}"}:
            if key in seen:
                what = entry.qid if key == entry.qid else f"name {entry.name!r}"
                raise DataFileError(path, line, f"{what} is listed twice (also line "
                                    f"{seen[key][1]})")
            seen[key] = (entry.name, line or 0)
        for alias in entry.aliases:
            for variant in alias_variants(alias):
                other = owner.setdefault(variant, entry.key)
                if other != entry.key:
                    raise DataFileError(
                        path, lines.get(("entities", position, "aliases"), line),
                        f"alias {alias!r} of {entry.name} ({entry.qid}) is also an alias of "
                        f"{seen[other][0]} ({other}): an alias must name one entity")
    return gazetteer


def load_word_list(path: Path) -> frozenset[str]:
    """A word list file (one per line, # comments), folded: lower case, no accents."""
    words = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        word = raw.strip()
        if word and not word.startswith("#"):
            words.add(fold(word))
    return frozenset(words)


@dataclass(frozen=True)
class Lexicon:
    """The word lists of the repairs, one file each in the gazetteer folder, folded."""

    # Nationality nouns (Américains, Russes, ...): never entities, though the model tags them.
    demonyms: frozenset[str]
    # Titles and roles that wire copy puts before a name and the model glues onto it
    # ("secrétaire à la Défense Lloyd Austin" -> LOC "Défense Lloyd Austin").
    titles: frozenset[str]
    # Nouns that head an organisation's name ("ministère russe de la Défense" is no place).
    organisation_heads: frozenset[str]
    # Generic nouns before a place name ("gare de Kramatorsk"): the place is the name alone.
    place_heads: frozenset[str]

    @classmethod
    def load(cls, folder: Path) -> Lexicon:
        return cls(**{name: load_word_list(folder / f"{name}.txt")
                      for name in cls.__dataclass_fields__})
