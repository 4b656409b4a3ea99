"""`wirewatch replay`: publish a feed to the dispatches topic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import click
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.cli import AppCommand, argument, option
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import seeds
from schemas import Dispatch
from streams.cli.common import EXIT_FAILURE, fail, settings, stderr, usage_error
from streams.clients.kafka import (
    BrokerConnectionError,
    TopicsNotReady,
    ensure_topics,
    start_producer,
)
from streams.feeds.pacing import pacing_delays
from streams.feeds.reader import FeedError, read_feed
from streams.worker import topics
from streams.worker.app import app


def default_feed() -> list[Path]:
    return [seeds.SEED_FEED]


def _read_dispatches(paths: tuple[Path, ...]
                     ) -> tuple[list[Dispatch], list[tuple[str, bytes]], list[FeedError]]:
    """The valid dispatches of the feed, its agency documents (source, bytes), and the
    errors of the invalid items (reported)."""
    try:
        items = list(read_feed(list(paths) or default_feed()))
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    errors: list[FeedError] = [item.error for item in items if item.error]
    for error in errors:
        stderr.print(f"[yellow]skipped[/] {error}")
    dispatches = [item.dispatch for item in items if item.dispatch]
    documents = [(item.source, item.document) for item in items if item.document is not None]
    if not dispatches and not documents:
        raise fail("the feed holds no valid dispatch and no agency document")
    return dispatches, documents, errors


async def _send_all(producer: AIOKafkaProducer, target: str, dispatches: list[Dispatch],
                    delays: list[float], repeat: bool, rate: float | None) -> int:
    """Send the dispatches (over and over with `repeat`), each acknowledged before the next,
    with a progress bar; return how many were sent. Stops the producer."""
    sent = 0
    try:
        with Progress(TextColumn("replay → {task.fields[target]}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=stderr,
                      transient=False) as progress:
            task = progress.add_task("replay", total=None if repeat else len(dispatches),
                                     target=target)
            while True:
                for dispatch, delay in zip(dispatches, delays, strict=True):
                    if delay:
                        await asyncio.sleep(delay)
                    await asyncio.wait_for(
                        producer.send_and_wait(target, dispatch.to_json_bytes(),
                                               key=dispatch.id.encode("utf-8")),
                        timeout=settings.send_timeout)
                    sent += 1
                    progress.advance(task)
                if not repeat:
                    return sent
                if rate:  # the rate holds across passes too (a pass starts without a wait)
                    await asyncio.sleep(1.0 / rate)
    except (KafkaError, TimeoutError) as exc:
        # Each dispatch is acknowledged before the next is sent: the user can tell exactly
        # which ones are on the topic and resume from there.
        reason = (f"no acknowledgement within {settings.send_timeout:g}s"
                  if isinstance(exc, TimeoutError) else repr(exc))
        written = (f"{sent} dispatches (passes over a feed of {len(dispatches)})" if repeat
                   else f"{sent} of {len(dispatches)} dispatches")
        raise fail(f"the broker stopped taking dispatches ({reason}): {written} were written "
                   f"to {target}; the next one, {dispatches[sent % len(dispatches)].id}, was "
                   "not confirmed") from None
    finally:
        with contextlib.suppress(TimeoutError):  # a dead broker must not hold up the exit
            await asyncio.wait_for(producer.stop(), timeout=5)


async def _send_documents(producer: AIOKafkaProducer, target: str,
                          documents: list[tuple[str, bytes]], rate: float | None) -> int:
    """Send agency documents as they are, keyed by file name, each acknowledged before the
    next; return how many were sent."""
    sent = 0
    try:
        for source, document in documents:
            await asyncio.wait_for(
                producer.send_and_wait(target, document,
                                       key=Path(source).name.encode("utf-8")),
                timeout=settings.send_timeout)
            sent += 1
            if rate:
                await asyncio.sleep(1.0 / rate)
    except (KafkaError, TimeoutError) as exc:
        raise fail(f"the broker stopped taking agency documents ({exc!r}): {sent} of "
                   f"{len(documents)} were written to {target}") from None
    return sent


@app.command(
    argument("paths", nargs=-1, type=Path),
    option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
           help="Dispatches per second (default: as fast as the broker takes them)."),
    option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
           help="Replay at the original spacing of published_at, this many times faster "
                "(1 = original pace)."),
    # Not `--loop`: Faust takes that option from the command line for its event loop.
    option("--repeat", is_flag=True, default=False,
           help="Replay the feed again and again (ids repeat)."),
    option("--topic", type=str, default=None,
           help="Topic to publish to (default: the input topic from the settings)."),
)
async def replay(self: AppCommand, paths: tuple[Path, ...], rate: float | None,
                 speed: float | None, repeat: bool, topic: str | None) -> None:
    """Publish a feed of dispatches to the input topic, and agency documents to the raw
    topic.

    PATHS are agency text files (with their 'date YYYY-MM City, Country | AGENCY | date - ...'
    header), JSON lines of dispatches, agency documents as delivered (NewsML-G2 and NewsML
    1.2 .xml, ninjs .json, NITF .xml: the worker reads them from the raw topic), or folders
    of them; default: the seed feed. Invalid items are reported with file and line, and
    skipped; the exit status is then 1.
    """
    if rate is not None and speed is not None:
        raise usage_error("replay", "--rate and --speed exclude each other: choose one")
    dispatches, documents, errors = _read_dispatches(paths)
    target = topic or settings.topic_dispatches
    try:
        await ensure_topics(settings, topics.names.all())
        producer = await start_producer(settings)
    except (BrokerConnectionError, TopicsNotReady) as exc:
        raise fail(str(exc)) from None
    began = time.monotonic()
    sent_documents = 0
    if documents:
        sent_documents = await _send_documents(producer, settings.topic_raw, documents, rate)
    sent = 0
    if dispatches:
        sent = await _send_all(producer, target, dispatches,
                               pacing_delays(dispatches, rate, speed), repeat, rate)
    else:
        await producer.stop()
    done = [f"{sent} dispatch(es) to {target}" if dispatches else "",
            f"{sent_documents} agency document(s) to {settings.topic_raw}" if documents else ""]
    stderr.print(f"replayed {' and '.join(d for d in done if d)} in "
                 f"{time.monotonic() - began:.1f}s"
                 + (f"; {len(errors)} invalid item(s) skipped" if errors else ""))
    if errors:
        raise SystemExit(EXIT_FAILURE)
