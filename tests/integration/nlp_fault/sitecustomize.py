"""Fault injection for the worker under test (on its PYTHONPATH only): the NLP step raises
for any dispatch whose body contains `NLP_FAULT_MARKER`, as a spaCy failure would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.nlp.enrich import Enricher

NLP_FAULT_MARKER = "«injected NLP failure»"
_enrich = Enricher.enrich
_enrich_many = Enricher.enrich_many


class InjectedNLPError(RuntimeError):
    pass


def _check(body: str) -> None:
    if NLP_FAULT_MARKER in body:
        raise InjectedNLPError("the NLP step failed on this text (injected by the test)")


def enrich(self: Enricher, dispatch: Any, *args: Any, **kwargs: Any) -> Any:
    _check(dispatch.body)
    return _enrich(self, dispatch, *args, **kwargs)


def enrich_many(self: Enricher, batch: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
    for dispatch, *_ in batch:
        _check(dispatch.body)
    return _enrich_many(self, batch, *args, **kwargs)


Enricher.enrich = enrich  # type: ignore[method-assign]
Enricher.enrich_many = enrich_many  # type: ignore[method-assign]
