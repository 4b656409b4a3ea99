"""Shared fixtures: the costly resources (spaCy model, enricher) load once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import Dispatch
from seeds import SEED_TEXTS
from streams.feeds.reader import read_feed
from streams.nlp.classify import TopicClassifier
from streams.nlp.enrich import Enricher
from streams.nlp.rules import TopicDefinition, load_definitions
from streams.settings import Settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def definitions() -> tuple[TopicDefinition, ...]:
    return load_definitions()


@pytest.fixture(scope="session")
def classifier(definitions: tuple[TopicDefinition, ...]) -> TopicClassifier:
    return TopicClassifier(definitions)


@pytest.fixture(scope="session")
def enricher(settings: Settings, definitions: tuple[TopicDefinition, ...]) -> Enricher:
    return Enricher.from_settings(settings.spacy_model)


@pytest.fixture(scope="session")
def seed_dispatch() -> Dispatch:
    [item] = list(read_feed([SEED_TEXTS[0]]))
    assert item.dispatch is not None, item.error
    return item.dispatch


@pytest.fixture
def write(tmp_path: Path):
    """Write a text file under tmp_path and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
