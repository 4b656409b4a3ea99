"""Entities a desk can trust: a curated gazetteer ahead of spaCy's NER, repairs of the model's
systematic errors, links to Wikidata, and the dispatch-level entity summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from schemas import Entity, EntitySummary
from schemas.models import EntityLabel, TextField
from streams.nlp.gazetteer_files import (
    GAZETTEER_DIR,
    Gazetteer,
    GazetteerEntry,
    Lexicon,
    alias_variants,
    load_gazetteer,
)
from streams.nlp.text import fold

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span
    from spacy.vocab import Vocab

_LABELS = frozenset(get_args(EntityLabel))

# Only the statistical NER is needed: its own embedding layer does not listen to the shared
# tok2vec, and the parser, tagger and lemmatizer change nothing in its entities, so running
# them only costs time (see BENCHMARKS.md).
NER_ONLY_EXCLUDE = ("tok2vec", "morphologizer", "parser", "senter", "attribute_ruler",
                    "lemmatizer")


# Determiners and prepositions that belong before an entity, not in it ("la France").
LEADING_FUNCTION_WORDS = frozenset(
    ["le", "la", "les", "l'", "du", "des", "de", "d'", "au", "aux", "a", "en", "et", "ou",
     "qu'", "lorsqu'", "puisqu'", "jusqu'", "s'", "n'", "c'"])


# Words that put the next single name in a place ("à Bakhmout", "près de Lyman").
LOCATIVE_WORDS = frozenset(["a", "vers", "depuis", "dans", "pres", "ville", "village",
                            "localite", "region", "province", "oblast", "jusqu'a"])


class CuratedEntities:
    """After the statistical NER: find every gazetteer alias, reconcile it with the model's
    spans, repair the model's systematic errors, and link.

    - A gazetteer match inside a model span splits it when the rest is a name or a role
      ("Otan Jens Stoltenberg" -> Otan + Jens Stoltenberg; "Défense Lloyd Austin" -> Lloyd
      Austin); a longer model name around a known surname takes its id ("Joe Biden").
    - Model spans lose leading articles and titles, demonyms and bare roles are dropped, and
      a role glued to a name makes it a person.
    - Gazetteer matches the model missed are added. Unknown entities are kept, without an id.
    """

    def __init__(self, vocab: Vocab, gazetteer: Gazetteer, lexicon: Lexicon) -> None:
        from spacy.matcher import PhraseMatcher

        self.entries = gazetteer.by_key()
        self.lexicon = lexicon
        self.alias_to_key = {
            variant: entry.key
            for entry in gazetteer.entities for alias in entry.aliases
            for variant in alias_variants(alias)
        }
        self.matcher = PhraseMatcher(vocab, attr="ORTH")
        self._vocab = vocab

    def add_patterns(self, make_doc: Callable[[str], Doc]) -> None:
        """Compile the aliases with the pipeline's own tokenizer."""
        by_key: dict[str, list[str]] = {}
        for variant, key in self.alias_to_key.items():
            by_key.setdefault(key, []).append(variant)
        for key, variants in by_key.items():
            self.matcher.add(key, [make_doc(variant) for variant in variants])

    def __call__(self, doc: Doc) -> Doc:
        from spacy.tokens import Span
        from spacy.util import filter_spans

        known = filter_spans([
            Span(doc, self._after_place_head(doc, start, end), end,
                 label=self.entries[self._vocab.strings[key]].type,
                 span_id=self._vocab.strings[key])
            for key, start, end in self.matcher(doc)
        ])
        result: list[Span] = []
        used: set[int] = set()  # indexes into `known` already placed
        for span in doc.ents:
            inside = [i for i, k in enumerate(known) if k.start < span.end and span.start < k.end]
            if not inside:
                repaired = self.repair(doc, span.start, span.end, span.label_)
                if repaired is not None:
                    result.append(repaired)
                continue
            result.extend(self._reconcile(doc, span, [known[i] for i in inside]))
            used.update(inside)
        result.extend(k for i, k in enumerate(known) if i not in used)
        doc.ents = filter_spans(result)
        return doc

    def _reconcile(self, doc: Doc, span: Span, inside: list[Span]) -> list[Span]:
        """A model span that overlaps gazetteer matches."""
        from spacy.tokens import Span

        covered = {i for k in inside for i in range(k.start, k.end)}
        pieces: list[tuple[int, int]] = []
        for i in range(span.start, span.end):
            if i in covered:
                continue
            if pieces and pieces[-1][1] == i:
                pieces[-1] = (pieces[-1][0], i + 1)
            else:
                pieces.append((i, i + 1))
        words = [[doc[i].text for i in range(a, b)] for a, b in pieces]
        ignorable = [all(self._ignorable(w) for w in piece) for piece in words]
        if all(ignorable):
            return inside
        only = inside[0] if len(inside) == 1 else None
        if (only is not None and only.label_ == "PER" and span.label_ == "PER"
                and all(w[:1].isupper() for piece in words for w in piece)):
            # "Joe Biden" around the known surname "Biden": the whole name, with its id.
            return [Span(doc, span.start, span.end, label="PER", span_id=only.id_)]
        people = [Span(doc, a, b, label="PER") for (a, b), piece, skip
                  in zip(pieces, words, ignorable, strict=True)
                  if not skip and _looks_like_person(piece)]
        if all(skip or _looks_like_person(piece)
               for piece, skip in zip(words, ignorable, strict=True)):
            return [*inside, *people]
        # Some other name around a known one ("Conseil de sécurité de l'ONU"): the model's.
        repaired = self.repair(doc, span.start, span.end, span.label_)
        return [repaired] if repaired is not None else []

    def _after_place_head(self, doc: Doc, start: int, end: int) -> int:
        """Where the name starts in "gare de Kramatorsk", "région de Donetsk": after the
        generic noun and its preposition, when a capitalised name follows."""
        if fold(doc[start].text) not in self.lexicon.place_heads:
            return start
        name = start + 1
        while name < end and fold(doc[name].text) in LEADING_FUNCTION_WORDS:
            name += 1
        return name if name < end and doc[name].text[:1].isupper() else start

    def _ignorable(self, word: str) -> bool:
        folded = fold(word)
        return (folded in LEADING_FUNCTION_WORDS or folded in self.lexicon.titles
                or not any(ch.isalnum() for ch in word))

    def repair(self, doc: Doc, start: int, end: int, label: str) -> Span | None:
        """A model span without what does not belong in it, relabelled where its words say
        what it is, linked where the gazetteer knows it; None where nothing is left."""
        from spacy.tokens import Span

        lexicon = self.lexicon
        while start < end and fold(doc[start].text) in LEADING_FUNCTION_WORDS:
            start += 1
        # Trailing punctuation and elided words the tokenizer left attached ("Kyiv s’").
        while start < end and (doc[end - 1].is_punct or doc[end - 1].is_space
                               or doc[end - 1].text[-1:] in "'’"):
            end -= 1
        if start >= end:
            return None
        # A title or role, with its adjectives and prepositions ("ministre iranien des
        # Affaires étrangères"), before a name: strip it when a name follows.
        title_end = start
        if fold(doc[start].text) in lexicon.titles:
            while title_end < end and (
                    fold(doc[title_end].text) in lexicon.titles
                    or fold(doc[title_end].text) in LEADING_FUNCTION_WORDS
                    or doc[title_end].text.islower()):
                title_end += 1
            if title_end == end:
                return None  # only a role: "la Défense", "ministre des Affaires étrangères"
        stripped_title = False
        if title_end > start:
            rest = [token.text for token in doc[title_end:end]]
            # Strip the title only where a name follows ("General Motors" stays).
            if (doc[title_end:end].text in self.alias_to_key or _looks_like_person(rest)
                    or (label == "PER" and len(rest) == 1 and rest[0][:1].isupper())):
                start, stripped_title = title_end, True
        key = None
        if label == "LOC" and (name := self._after_place_head(doc, start, end)) > start:
            # "région de Donetsk" names the region: link the whole, keep the name alone.
            key = self.alias_to_key.get(doc[start:end].text)
            start = name
        words = [token.text for token in doc[start:end]]
        if all(fold(word) in lexicon.demonyms for word in words):
            return None
        if not any(ch.isupper() for ch in "".join(words)):
            return None  # "américaine", "otan" typed lower-case are not names here
        if len(words) == 1 and fold(words[0]) in lexicon.titles:
            return None  # a bare role or title: "Etat", "Défense"
        key = key or self.alias_to_key.get(doc[start:end].text)
        if key is not None:
            return Span(doc, start, end, label=self.entries[key].type, span_id=key)
        if label == "PER" and len(words) == 1 and start > 0 and (
                fold(doc[start - 1].text) in LOCATIVE_WORDS):
            label = "LOC"  # "à Bakhmout", "la ville d'Izioum": an unknown town, not a person
        if stripped_title and label != "PER" and _looks_like_person(words):
            label = "PER"
        elif fold(words[0]) in lexicon.organisation_heads and len(words) > 1:
            label = "ORG"  # "ministère russe de la Défense", "Banque centrale européenne"
        return Span(doc, start, end, label=label)


_NAME_PARTICLES = frozenset(
    ["de", "du", "le", "la", "von", "van", "der", "ben", "bin", "al", "el", "da", "di", "ibn"])


def _looks_like_person(words: Sequence[str]) -> bool:
    """Two or more capitalised words, as "Lloyd Austin" or "Jean-Yves Le Drian" (hyphens
    the tokenizer split off are joiners, not words)."""
    parts = [w for w in words if w not in {"-", "‑", "'", "’"}]
    capitalised = [w for w in parts if w[:1].isupper()]
    return len(parts) >= 2 and len(capitalised) >= 2 and all(
        w[:1].isupper() or fold(w) in _NAME_PARTICLES for w in parts)


CURATED_COMPONENT = "wirewatch_curated_entities"


def _register_factory() -> None:
    """Register the component with spaCy (once; spaCy is imported only when needed)."""
    from spacy.language import Language

    if Language.has_factory(CURATED_COMPONENT):
        return

    @Language.factory(CURATED_COMPONENT, default_config={"gazetteer_dir": str(GAZETTEER_DIR)})
    def make_curated_entities(nlp: Language, name: str, gazetteer_dir: str) -> CuratedEntities:
        # Loading here fails fast, with file and line, on a mistake in the data files.
        folder = Path(gazetteer_dir)
        component = CuratedEntities(nlp.vocab, load_gazetteer(folder / "entities.yaml"),
                                    Lexicon.load(folder))
        component.add_patterns(nlp.make_doc)
        return component


def build_nlp(model: str, *, curated: bool = True, gazetteer_dir: Path = GAZETTEER_DIR
              ) -> Language:
    """The entity pipeline: statistical NER -> gazetteer, repairs and links. With
    `curated=False`, the model's NER alone (still without unneeded components)."""
    import spacy

    try:
        nlp = spacy.load(model, exclude=list(NER_ONLY_EXCLUDE))
    except OSError as exc:
        raise RuntimeError(
            f"spaCy model {model!r} is not installed; install the project "
            "(`pip install -e .`), which pins it as a dependency") from exc
    if not curated:
        return nlp
    _register_factory()
    nlp.add_pipe(CURATED_COMPONENT, after="ner", config={"gazetteer_dir": str(gazetteer_dir)})
    return nlp


def gazetteer_index(nlp: Language) -> Mapping[str, GazetteerEntry]:
    """The gazetteer entries of a pipeline built by `build_nlp`, by key (Wikidata id, else
    "name:" and the canonical name); empty for a pipeline without the gazetteer."""
    if CURATED_COMPONENT not in nlp.pipe_names:
        return {}
    component = nlp.get_pipe(CURATED_COMPONENT)
    assert isinstance(component, CuratedEntities)
    return component.entries


def entities_of(doc: Doc, field: TextField,
                index: Mapping[str, GazetteerEntry]) -> list[Entity]:
    """The document's entities as schema objects, with canonical name and Wikidata id when
    the gazetteer (`index`, by entry key) knows them."""
    entities = []
    for span in doc.ents:
        if span.label_ not in _LABELS or not span.text.strip():
            continue
        entry = index.get(span.ent_id_) if span.ent_id_ else None
        entities.append(Entity(
            text=span.text, label=span.label_, field=field,
            start=span.start_char, end=span.end_char,
            canonical=entry.name if entry else None,
            wikidata_id=entry.qid if entry else None,
        ))
    return entities


def summarize_entities(entities: Iterable[Entity], lead_end: int) -> list[EntitySummary]:
    """Each distinct entity once (by Wikidata id, else canonical name, else label and text),
    with its mention
    count and salience, most salient first: in the headline, then in the lead paragraph
    (body offsets below `lead_end`), then by mentions, then by first appearance."""
    groups: dict[tuple[str, str], list[Entity]] = {}
    for entity in entities:
        key = (("qid", entity.wikidata_id) if entity.wikidata_id
               else ("canonical", entity.canonical) if entity.canonical
               else (entity.label, entity.text))
        groups.setdefault(key, []).append(entity)
    summaries = []
    for order, mentions in enumerate(groups.values()):
        first = mentions[0]
        surface_counts: dict[str, int] = {}
        for mention in mentions:
            surface_counts[mention.text] = surface_counts.get(mention.text, 0) + 1
        summaries.append((order, EntitySummary(
            name=first.canonical or max(surface_counts, key=lambda s: surface_counts[s]),
            label=first.label,
            wikidata_id=first.wikidata_id,
            mentions=len(mentions),
            in_headline=any(m.field == "headline" for m in mentions),
            in_lead=any(m.field == "body" and m.start < lead_end for m in mentions),
        )))
    summaries.sort(key=lambda item: (not item[1].in_headline, not item[1].in_lead,
                                     -item[1].mentions, item[0]))
    return [summary for _, summary in summaries]
