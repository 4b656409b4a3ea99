"""The exported JSON Schema files and the pydantic models agree: a message that one accepts,
the other accepts, so that a producer in any language that checks its messages against
`schemas/*.schema.json` meets no dead letter the schema did not announce, and a consumer
can trust what the schema says of wirewatch's output.

Instances are valid messages, as JSON, with up to two changes each: a field replaced by a
near miss (text of only whitespace or of zero-width characters, a control character, a
string at a length limit, a date-time spelled in one of many ways, a Unix time, a number
as text, null, another type), dropped, or given an unknown neighbour. The schema is
checked as `jsonschema` checks it with formats asserted (Draft 2020-12), the model as the
worker reads the wire (`model_validate_json`). Entity, TopicMatch and the rest are checked
within the enriched dispatches and alerts that hold them. About 1,200 examples in all.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from schemas import Alert, Dispatch, EnrichedDispatch
from schemas.export import EXPORTED_MODELS, schema_path
from schemas.models import MAX_BODY_CHARS, MAX_HEADLINE_CHARS

FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
VALIDATORS = {
    model: Draft202012Validator(json.loads(schema_path(model).read_text(encoding="utf-8")),
                                format_checker=FORMAT_CHECKER)
    for model in EXPORTED_MODELS
}
# The one rule that JSON Schema cannot state, as it compares two fields; the schema says it
# in the field's description.
CROSS_FIELD_RULES = ("end must be greater than start",)


def test_date_times_are_checked_by_the_schema_validator():
    # jsonschema checks "date-time" only when rfc3339-validator is installed; without it,
    # any string would pass and timestamps would not be compared below at all.
    assert FORMAT_CHECKER.conforms("2021-08-15T10:00:00+02:00", "date-time")
    assert not FORMAT_CHECKER.conforms("2021-08-15T10:00:00", "date-time")


# --- Valid messages, as JSON -------------------------------------------------------------

# No lone surrogates: a string holding one is no JSON text at all.
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
name_chars = st.characters(categories=("L", "N", "P", "S"))
names = st.text(name_chars, min_size=1, max_size=30) | st.builds(
    "{} {}".format, st.text(name_chars, min_size=1, max_size=10),
    st.text(name_chars, min_size=1, max_size=10))
bodies = st.text(min_size=1, max_size=200) | st.builds(
    "{}\n\n{}".format, names, st.text(max_size=100))
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
timestamps = st.datetimes(timezones=offsets | st.just(UTC)).map(lambda d: d.isoformat())
unit_scores = st.floats(0.0, 1.0) | st.sampled_from([0, 1])
positions = st.sampled_from(["headline", "lead", "body"])
labels = st.sampled_from(["PER", "ORG", "LOC", "MISC"])
text_fields = st.sampled_from(["headline", "body"])
datelines = st.fixed_dictionaries({}, optional={"city": st.none() | names,
                                               "country": st.none() | names})


def _with_end(span: dict[str, Any], length: int) -> dict[str, Any]:
    return {**span, "end": span["start"] + length}


entities = st.builds(_with_end, st.fixed_dictionaries(
    {"text": any_text, "label": labels, "start": st.integers(0, 10_000)},
    optional={"field": text_fields, "position": positions,
              "canonical": st.none() | any_text,
              "wikidata_id": st.none() | st.integers(1, 10**9).map("Q{}".format)}),
    st.integers(1, 100))
evidence = st.builds(_with_end, st.fixed_dictionaries(
    {"text": any_text, "start": st.integers(0, 10_000), "rule": any_text,
     "weight": st.floats(-5, 5) | st.integers(-5, 5)},
    optional={"field": text_fields, "position": positions}),
    st.integers(0, 100))
entity_summaries = st.fixed_dictionaries(
    {"name": any_text, "label": labels, "mentions": st.integers(1, 1_000),
     "in_headline": st.booleans(), "in_lead": st.booleans()},
    optional={"wikidata_id": st.none() | any_text})
topic_matches = st.fixed_dictionaries(
    {"topic": any_text, "score": unit_scores, "evidence": st.lists(evidence, max_size=2)},
    optional={"salience": positions})

dispatch_fields = {"id": names, "language": st.sampled_from(["fr", "en", "de", "fra"]),
                   "body": bodies}
optional_dispatch_fields = {
    "headline": st.none() | st.text(max_size=60),
    "agency": st.none() | names,
    "dateline": st.none() | datelines,
    "published_at": st.none() | timestamps,
}
dispatches = st.fixed_dictionaries(dispatch_fields, optional=optional_dispatch_fields)
enriched_dispatches = st.fixed_dictionaries(
    {**dispatch_fields, "entities": st.lists(entities, max_size=2),
     "entity_summary": st.lists(entity_summaries, max_size=2),
     "topics": st.lists(topic_matches, max_size=2),
     "received_at": timestamps, "enriched_at": timestamps},
    optional=optional_dispatch_fields)
alerts = st.fixed_dictionaries(
    {"alert_id": st.uuids().map(str), "topic": any_text, "score": unit_scores,
     "evidence": st.lists(evidence, max_size=2), "dispatch_id": names,
     "headline": st.none() | st.text(max_size=60),
     "entities": st.lists(entity_summaries, max_size=2), "alerted_at": timestamps},
    optional={"salience": positions, "agency": st.none() | names,
              "dateline": st.none() | datelines, "published_at": st.none() | timestamps})

# --- Near misses -------------------------------------------------------------------------

WHITESPACE = " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
# Zero-width, format and filler characters: nothing shows.
INVISIBLE = ("\u200b\u200c\u200d\u200e\u200f\u2060\u2063\ufeff\u00ad\u034f\u061c\u115f"
             "\u180e\u202a\u202e\u2066\u3164\ufe0f\uffa0")
CONTROLS = [chr(code) for code in (*range(32), *range(127, 160))]
# One short of, at and one past each length limit.
LIMITS = [n + d for n in (200, MAX_HEADLINE_CHARS, MAX_BODY_CHARS) for d in (-1, 0, 1)]


@st.composite
def date_time_spellings(draw: st.DrawFn) -> str:
    """Date-times right and wrong: RFC 3339 and what pydantic alone would read, too."""
    year = draw(st.integers(1, 2100) | st.sampled_from([0, 9999]))
    month = draw(st.integers(1, 12) | st.sampled_from([0, 13]))
    day = draw(st.integers(1, 28) | st.integers(29, 32) | st.just(0))
    hour, minute, second = (draw(st.integers(0, limit - 1) | st.sampled_from([limit, limit + 1]))
                            for limit in (24, 60, 60))
    date = f"{year:04d}-{month:02d}-{day:02d}"
    time = draw(st.sampled_from([f"{hour:02d}:{minute:02d}:{second:02d}",
                                 f"{hour:02d}:{minute:02d}",
                                 f"{hour:02d}{minute:02d}{second:02d}"]))
    return "".join([
        date, draw(st.sampled_from(["T", "t", " ", "_"])), time,
        draw(st.sampled_from(["", ".5", ".123456", ".123456789", ",5", "."])),
        draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "", "+0530",
                              "+05", "+24:00", "+05:60", "+05:30:15", " UTC"])),
        draw(st.sampled_from(["", "", "", "\n", " ", "\x00"])),
    ])


json_scalars = (st.none() | st.booleans() | st.integers()
                | st.floats(allow_nan=False, allow_infinity=False) | any_text)
near_misses = st.one_of(
    json_scalars,
    st.sampled_from(["", "5", "0.5", "-1", "true", "null", "FR", "fr\n", " fr", "français",
                     "1618387200", "1618387200.5", "2021-08-15", "yesterday"]),
    st.text(st.sampled_from(WHITESPACE), max_size=4),
    st.text(st.sampled_from(INVISIBLE + WHITESPACE), min_size=1, max_size=4),
    st.text(st.sampled_from(CONTROLS), min_size=1, max_size=2),
    date_time_spellings(),
    st.integers(0, 2**33) | st.floats(0, 2.0**33),  # Unix times
    st.lists(json_scalars, max_size=2),
    st.dictionaries(st.text(max_size=5), json_scalars, max_size=2),
)


@st.composite
def tweaked(draw: st.DrawFn, value: Any) -> Any:
    """A value changed a little: a number or a truth value written as text or as the other,
    a date-time respelled, a string with a control character put in, whitespace or
    invisible characters around it, or made as long as a limit."""
    if isinstance(value, bool | int | float):
        return draw(st.sampled_from([str(value).lower(), int(value), float(value) + 0.5,
                                     not value, -value]))
    if not isinstance(value, str):
        return draw(near_misses)
    how = draw(st.sampled_from(["control", "padded", "long", "respelled"]))
    if how == "respelled":
        return draw(st.sampled_from([value.replace("T", " "), value.replace("+00:00", "Z"),
                                     value[:16] + value[19:], value[:-3] + value[-2:],
                                     value[:19], value.lower(), value + "\n"]))
    if how == "control":
        at = draw(st.integers(0, len(value)))
        return value[:at] + draw(st.sampled_from(CONTROLS)) + value[at:]
    if how == "padded":
        padding = st.text(st.sampled_from(WHITESPACE + INVISIBLE), max_size=3)
        return draw(padding) + value + draw(padding)
    length, filler = draw(st.sampled_from(LIMITS)), draw(st.sampled_from(["x", " ", "\u200b"]))
    return (value + filler * length)[:length]


# A container of a JSON document (an object or an array) and a key or index in it.
Place = tuple[Any, str | int]


def _places(node: Any) -> Iterator[Place]:
    """Every (container, key) of a JSON document, nested ones too."""
    items: Any = (node.items() if isinstance(node, dict)
                  else enumerate(node) if isinstance(node, list) else ())
    for key, value in items:
        yield node, key
        yield from _places(value)


def _by_field(document: dict[str, Any]) -> dict[str, list[Place]]:
    """The places of a document by field name (items of lists as "[]"), so that a field
    met once is changed as often as one met in every item of a list."""
    fields: dict[str, list[Place]] = {}
    for container, key in _places(document):
        fields.setdefault(key if isinstance(key, str) else "[]", []).append((container, key))
    return fields


@st.composite
def changed(draw: st.DrawFn, documents: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid document with up to two of its values replaced, tweaked or dropped, or with
    an unknown field added."""
    document = copy.deepcopy(draw(documents))
    for _ in range(draw(st.integers(0, 2))):
        fields = _by_field(document)
        container, key = draw(st.sampled_from(fields[draw(st.sampled_from(sorted(fields)))]))
        value = container[key]
        how = draw(st.sampled_from(["replace", "tweak", "tweak", "drop", "add"]))
        if how == "tweak":
            container[key] = draw(tweaked(value))
        elif how == "drop":
            del container[key]
        elif how == "add" and isinstance(container, dict):
            container[draw(st.text(max_size=8))] = draw(json_scalars)
        else:
            container[key] = draw(near_misses)
    return document


# --- Agreement ---------------------------------------------------------------------------

def assert_agree(model: type[BaseModel], document: dict[str, Any], ascii_only: bool) -> None:
    wire = json.dumps(document, ensure_ascii=ascii_only, allow_nan=False)
    schema_errors = [error.message for error in
                     VALIDATORS[model].iter_errors(json.loads(wire))]
    try:
        model.model_validate_json(wire)
    except ValidationError as exc:
        event("refused", "by both" if schema_errors else "by the model alone")
        if not schema_errors:
            refusals = [error["msg"] for error in exc.errors()]
            assert all(any(rule in refusal for rule in CROSS_FIELD_RULES)
                       for refusal in refusals), f"only the model refuses: {refusals}"
    else:
        event("accepted")
        assert not schema_errors, f"only the schema refuses: {schema_errors}"


@settings(max_examples=600, deadline=None)
@given(changed(dispatches), st.booleans())
def test_schema_and_model_agree_on_dispatches(document, ascii_only):
    assert_agree(Dispatch, document, ascii_only)


@settings(max_examples=300, deadline=None)
@given(changed(enriched_dispatches), st.booleans())
def test_schema_and_model_agree_on_enriched_dispatches(document, ascii_only):
    assert_agree(EnrichedDispatch, document, ascii_only)


@settings(max_examples=300, deadline=None)
@given(changed(alerts), st.booleans())
def test_schema_and_model_agree_on_alerts(document, ascii_only):
    assert_agree(Alert, document, ascii_only)


def minimal(**fields: Any) -> dict[str, Any]:
    return {"id": "d1", "language": "fr", "body": "Texte.", **fields}


# What the schema accepted and the model refused (or the other way round), and what both
# accepted though no dispatch is made of it: both refuse all of it now.
@pytest.mark.parametrize("document", [
    minimal(id="   "),
    minimal(id="\u200b"),
    minimal(id="d\u00851"),  # a C1 control
    minimal(id=" " * 5 + "d" * 200),  # 205 characters as sent, 200 once stripped
    minimal(body="\u200b\u200b\u200b"),
    minimal(body="\u00a0\u3000\n"),
    minimal(agency="AFP\x07"),
    minimal(dateline={"city": "Kaboul\n"}),
    minimal(language="fr\n"),
    minimal(published_at="2021-08-15T10:00:00"),  # no timezone
    minimal(published_at="2021-08-15 10:00:00+02:00"),
    minimal(published_at="2021-08-15T10:00+02:00"),
    minimal(published_at="2021-08-15T10:00:00+0200"),
    minimal(published_at="2021-08-15T10:00:00Z\n"),
    minimal(published_at="1629014400"),
    minimal(published_at=1629014400),
    minimal(published_at=1629014400.5),
], ids=repr)
def test_both_refuse_what_they_once_disagreed_on(document):
    assert not VALIDATORS[Dispatch].is_valid(document)
    with pytest.raises(ValidationError):
        Dispatch.model_validate_json(json.dumps(document))


def test_both_accept_names_padded_with_whitespace_and_strip_them():
    document = minimal(id=" d1 ", agency="\u3000AFP\u00a0", published_at="2021-08-15t10:00:00.5z")
    assert VALIDATORS[Dispatch].is_valid(document)
    dispatch = Dispatch.model_validate_json(json.dumps(document))
    assert (dispatch.id, dispatch.agency) == ("d1", "AFP")
