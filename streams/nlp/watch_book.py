"""The watches a worker applies: every record of the compacted watches topic (key: the watch's
name; value: its definition, the YAML of a topic file or of an entity watch), read from the
beginning and followed. Plain functions here; the worker feeds them the topic's records.

A record that is not a valid definition never replaces a good one: the worker keeps the
last good version of that watch, logs why and counts it (`wirewatch watch add` validates
first, so only a producer writing to the topic directly gets there). A tombstone (no value)
removes the watch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from streams.nlp.datafiles import DataFileError, parse_yaml_model
from streams.nlp.entity_watch import EntityWatch
from streams.nlp.rules import RuleError, TopicDefinition, parse_definition
from streams.settings import SURGE_TOPIC_NAME

logger = logging.getLogger(__name__)

Watch = TopicDefinition | EntityWatch


class InvalidWatch(ValueError):
    """A watch definition that cannot be applied, with where and why."""


def parse_watch(name: str, raw: bytes, source: str) -> Watch:
    """A watch from a record's value (or a file's bytes): a topic definition, or an entity
    watch (`kind: entity`). Raises `InvalidWatch` naming `source`, the line and the problem."""
    if name == SURGE_TOPIC_NAME:
        raise InvalidWatch(f"{source}: {name!r} is taken by the surge alerts "
                           f"(alerts.{name}): name the watch otherwise")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidWatch(f"{source}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        head = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InvalidWatch(f"{source}{line}: not valid YAML: {exc}") from None
    if isinstance(head, dict) and head.get("kind") == "entity":
        try:
            watch, _ = parse_yaml_model(text, Path(source), EntityWatch)
        except DataFileError as exc:
            raise InvalidWatch(str(exc)) from None
        if watch.watch != name:
            raise InvalidWatch(f"{source}: watch {watch.watch!r} must match the name {name!r}")
        return watch
    try:
        return parse_definition(text, Path(source), name)
    except (RuleError, DataFileError) as exc:
        raise InvalidWatch(str(exc)) from None


@dataclass
class WatchBook:
    """The watches in force, by name, and the records refused since the worker started."""

    watches: dict[str, Watch] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)  # name -> its definition as written
    refused: dict[str, str] = field(default_factory=dict)  # name -> why, the last refusal

    def apply(self, key: bytes | None, value: bytes | None, where: str) -> bool:
        """Apply one record of the watches topic; True when the watches in force changed."""
        if key is None:
            logger.warning("watch record at %s has no key (the watch's name): ignored", where)
            self.refused["?"] = "no key"
            return False
        name = key.decode("utf-8", "replace")
        if value is None:
            self.raw.pop(name, None)
            return self.watches.pop(name, None) is not None
        try:
            watch = parse_watch(name, value, f"{where} (watch {name})")
        except InvalidWatch as exc:
            kept = self.watches.get(name)
            logger.error("watch %s refused, %s: %s", name,
                         f"version {_version(kept)} stays in force" if kept else
                         "not applied", exc)
            self.refused[name] = str(exc)
            return False
        self.raw[name] = value
        if self.watches.get(name) == watch:
            return False
        self.watches[name] = watch
        self.refused.pop(name, None)
        return True

    def topic_definitions(self) -> tuple[TopicDefinition, ...]:
        return tuple(w for _, w in sorted(self.watches.items())
                     if isinstance(w, TopicDefinition))

    def entity_watches(self) -> tuple[EntityWatch, ...]:
        return tuple(w for _, w in sorted(self.watches.items()) if isinstance(w, EntityWatch))

    def versions(self) -> Mapping[str, str]:
        return {name: _version(watch) for name, watch in sorted(self.watches.items())}


def _version(watch: Watch | None) -> str:
    return "-" if watch is None else watch.version
