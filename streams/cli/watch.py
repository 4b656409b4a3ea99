"""`wirewatch watch`: the watches on Kafka, listed, shown, added, removed, exported."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import click
from faust.cli import AppCommand, argument, option

from schemas import EnrichedDispatch
from schemas.models import utc_now
from streams.cli.common import EXIT_FAILURE, fail, settings, stderr, usage_error
from streams.clients.kafka import (
    BrokerConnectionError,
    TopicsNotReady,
    ensure_topics,
    read_records,
)
from streams.clients.watches import read_watch_book, write_watch
from streams.nlp.rules import TopicDefinition
from streams.nlp.watch_book import InvalidWatch, Watch, parse_watch
from streams.quality.watch_diff import compare_watches
from streams.worker.app import app

ACTIONS = ("list", "show", "add", "rm", "export", "test")
SINCE = re.compile(r"^(\d+)([mhd])$")
SECONDS = {"m": 60, "h": 3600, "d": 86_400}


@app.command(
    argument("action", type=click.Choice(ACTIONS), required=True),
    argument("target", type=str, required=False),
    option("--since", type=str, default=None,
           help="watch test: the enriched dispatches of this last period: 30m, 12h, 7d."),
    option("--last", type=click.IntRange(min=1), default=None,
           help="watch test: the last N enriched dispatches."),
)
async def watch(self: AppCommand, action: str, target: str | None, since: str | None,
                last: int | None) -> None:
    """Manage the watches every worker applies, kept on the compacted watches topic.

    \b
    list          every watch: name, kind, version, description
    show NAME     one watch's definition, as stored
    add FILE      validate FILE (a topic definition, or an entity watch with `kind:
                  entity`), then publish it under the file's name (`unrest.yaml` is the
                  watch `unrest`): workers apply it within seconds, without a restart
    rm NAME       remove a watch: workers stop raising its alerts
    export DIR    write every watch to DIR/<name>.yaml
    test FILE     run FILE over recent enriched dispatches (no NLP re-run) against the live
                  watch of the same name: the alerts it would add and remove (--since 7d
                  or --last N; default: all the enriched topic holds). Changes nothing.
    """
    if (since or last) and action != "test":
        raise usage_error("watch", "--since and --last go with `watch test`")
    if since and last:
        raise usage_error("watch", "--since and --last exclude each other")
    if since and not SINCE.match(since):
        raise usage_error("watch", f"--since {since!r}: a number and m, h or d (e.g. 7d)")
    needs_target = {"show": "NAME", "add": "FILE", "rm": "NAME", "export": "DIR"}
    if action in needs_target and not target:
        raise usage_error("watch", f"{action} needs {needs_target[action]}")
    if action == "list" and target:
        raise usage_error("watch", "list takes no argument")
    try:
        if action == "add":
            await _add(Path(target or ""))
            return
        if action == "test":
            await _test(Path(target or ""), since, last)
            return
        book = await read_watch_book(settings)
        if action == "list":
            for name, found in sorted(book.watches.items()):
                kind = "topic" if isinstance(found, TopicDefinition) else "entity"
                summary = " ".join(found.description.split())[:80]
                print(f"{name}\t{kind}\t{found.version}\t{summary}")
            for name, why in sorted(book.refused.items()):
                stderr.print(f"[yellow]refused record for {name}:[/] {why}")
        elif action == "show":
            assert target is not None
            if target not in book.raw:
                raise fail(f"no watch named {target!r}; `wirewatch watch list` lists them")
            print(book.raw[target].decode("utf-8"), end="")
        elif action == "rm":
            assert target is not None
            if target not in book.watches:
                raise fail(f"no watch named {target!r}; `wirewatch watch list` lists them")
            await write_watch(settings, target, None)
            stderr.print(f"removed watch {target}")
        elif action == "export":
            folder = Path(target or "")
            await asyncio.to_thread(_export, folder, book.raw)
            stderr.print(f"wrote {len(book.raw)} watch(es) to {folder}")
    except (BrokerConnectionError, TopicsNotReady) as exc:
        raise fail(str(exc)) from None


def _export(folder: Path, definitions: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in sorted(definitions.items()):
        (folder / f"{name}.yaml").write_bytes(raw)


async def _read_candidate(path: Path) -> tuple[bytes, Watch]:
    """A watch file's bytes and the watch it defines, named after the file; refused (exit
    status 1) with file, line and problem when it is not a valid definition."""
    try:
        raw = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    try:
        return raw, parse_watch(path.stem, raw, str(path))
    except InvalidWatch as exc:
        stderr.print(f"[bold red]refused:[/] {exc}")
        raise SystemExit(EXIT_FAILURE) from None


async def _add(path: Path) -> None:
    raw, _ = await _read_candidate(path)
    await ensure_topics(settings, [settings.topic_watches, settings.alert_topic(path.stem)])
    await write_watch(settings, path.stem, raw)
    stderr.print(f"published watch {path.stem}; its alerts go to "
                 f"{settings.alert_topic(path.stem)}")


async def _test(path: Path, since: str | None, last: int | None) -> None:
    _, candidate = await _read_candidate(path)
    live = (await read_watch_book(settings)).watches.get(path.stem)
    records = await read_records(settings, [settings.topic_enriched])
    dispatches = sorted((EnrichedDispatch.model_validate_json(r.value) for r in records
                         if r.value), key=lambda d: d.enriched_at)
    if since:
        found = SINCE.match(since)
        assert found is not None
        cutoff = utc_now() - timedelta(seconds=int(found.group(1)) * SECONDS[found.group(2)])
        dispatches = [d for d in dispatches if d.enriched_at >= cutoff]
    if last:
        dispatches = dispatches[-last:]
    diff = compare_watches(candidate, live, dispatches)
    for sign, items in (("+", diff.added), ("-", diff.removed)):
        for dispatch, match in items:
            evidence = "; ".join(sorted({f"«{e.text}» ({e.rule})" for e in match.evidence}))[:300]
            print(f"{sign} {dispatch.id}\t{match.score:.2f}\t{dispatch.headline or ''}\t"
                  f"{evidence}")
    stderr.print(f"{path.stem}: {len(diff.added)} alert(s) added, {len(diff.removed)} "
                 f"removed, {diff.kept} kept, over {diff.read} enriched dispatch(es)"
                 f"{'' if live else ' (no live version: every match is added)'}")
