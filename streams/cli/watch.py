"""`wirewatch watch`: the watches on Kafka, listed, shown, added, removed, exported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from faust.cli import AppCommand, argument

from streams.cli.common import EXIT_FAILURE, fail, settings, stderr, usage_error
from streams.clients.kafka import BrokerConnectionError, TopicsNotReady, ensure_topics
from streams.clients.watches import read_watch_book, write_watch
from streams.nlp.rules import TopicDefinition
from streams.nlp.watch_book import InvalidWatch, parse_watch
from streams.worker.app import app

ACTIONS = ("list", "show", "add", "rm", "export")


@app.command(
    argument("action", type=click.Choice(ACTIONS), required=True),
    argument("target", type=str, required=False),
)
async def watch(self: AppCommand, action: str, target: str | None) -> None:
    """Manage the watches every worker applies, kept on the compacted watches topic.

    \b
    list          every watch: name, kind, version, description
    show NAME     one watch's definition, as stored
    add FILE      validate FILE (a topic definition, or an entity watch with `kind:
                  entity`), then publish it under the file's name (`unrest.yaml` is the
                  watch `unrest`): workers apply it within seconds, without a restart
    rm NAME       remove a watch: workers stop raising its alerts
    export DIR    write every watch to DIR/<name>.yaml
    """
    needs_target = {"show": "NAME", "add": "FILE", "rm": "NAME", "export": "DIR"}
    if action in needs_target and not target:
        raise usage_error("watch", f"{action} needs {needs_target[action]}")
    if action == "list" and target:
        raise usage_error("watch", "list takes no argument")
    try:
        if action == "add":
            await _add(Path(target or ""))
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


async def _add(path: Path) -> None:
    try:
        raw = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    try:
        parse_watch(path.stem, raw, str(path))
    except InvalidWatch as exc:
        stderr.print(f"[bold red]refused:[/] {exc}")
        raise SystemExit(EXIT_FAILURE) from None
    await ensure_topics(settings, [settings.topic_watches, settings.alert_topic(path.stem)])
    await write_watch(settings, path.stem, raw)
    stderr.print(f"published watch {path.stem}; its alerts go to "
                 f"{settings.alert_topic(path.stem)}")
