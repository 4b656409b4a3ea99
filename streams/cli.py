"""The `wirewatch` command: Faust's CLI (`wirewatch worker -l info`) plus wirewatch's own
commands (broker, replay, subscribe, enrich). What these print is their user interface."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from aiokafka.errors import KafkaError
from faust.cli import AppCommand, argument, option
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import seeds
from schemas import Alert, Dispatch
from schemas.models import utc_now
from streams import agents, localbroker, topics
from streams.app import app
from streams.datafiles import DataFileError
from streams.delivery import SeenAlerts
from streams.enrich import Enricher
from streams.entities import build_nlp, entities_of, gazetteer_index, load_gazetteer
from streams.evaluation import (
    EntityReport,
    PredictedEntity,
    evaluate_anchor,
    evaluate_topics,
    format_entity_report,
    format_topic_report,
    read_entity_examples,
    read_labelled_dispatches,
    score_example,
)
from streams.feed import FeedError, read_feed
from streams.kafka import BrokerConnectionError, ensure_topics, start_consumer, start_producer
from streams.pipeline import (
    HEADER_EXCEPTION_MESSAGE,
    HEADER_REASON,
    InvalidDispatch,
    decode_dispatch,
)

if TYPE_CHECKING:
    from spacy.language import Language

settings = app.wirewatch_settings
stderr = Console(stderr=True, highlight=False, soft_wrap=True)  # no wrapping of messages
EXIT_FAILURE = 1
EXIT_TIMEOUT = 3

__all__ = ["agents", "main"]  # agents is imported to register the Faust agent


def fail(message: str) -> SystemExit:
    """Say what went wrong, plainly, and exit non-zero (raise the result)."""
    stderr.print(f"[bold red]error:[/] {message}")
    return SystemExit(EXIT_FAILURE)


# --- broker ---------------------------------------------------------------------------------

@app.command(
    argument("action", type=str, required=True,
             metavar="start|stop|status|fetch"),
)
async def broker(self: AppCommand, action: str) -> None:
    """Run the local Kafka broker (KRaft, single node, on loopback) for development and tests.

    start   resolve the Kafka jars (once), format storage (once), start, wait until it answers
    stop    stop the broker this project started, and only that process
    status  say whether it runs and answers
    fetch   only resolve the Kafka jars from Maven Central into the cache folder
    """
    try:
        if action == "start":
            result = await asyncio.to_thread(localbroker.start, settings)
            state = "already running" if result.already_running else "started"
            print(f"Kafka broker {state} on {settings.broker_host}:{settings.broker_port} "
                  f"(pid {result.pid}, {result.seconds:.1f}s); data and logs in "
                  f"{settings.state_dir / 'broker'}")
        elif action == "stop":
            pid = await asyncio.to_thread(localbroker.stop, settings)
            print(f"Kafka broker stopped (pid {pid})" if pid else
                  "no broker started by this project is running")
        elif action == "status":
            status = localbroker.status(settings)
            if status.pid:
                print(f"running: pid {status.pid}, {status.bootstrap}, "
                      f"{'answering' if status.answering else 'NOT answering'}; {status.home}")
            else:
                other = " (but something else answers on that port)" if status.answering else ""
                jars = "cached" if status.jars_resolved else "not yet resolved"
                print(f"not running{other}; jars {jars}")
                raise SystemExit(EXIT_FAILURE)
        elif action == "fetch":
            paths = localbroker.BrokerPaths.from_settings(settings)
            lib = await asyncio.to_thread(localbroker.resolve_jars, paths)
            print(f"Kafka {localbroker.kafka_version()} jars in {lib}")
        else:
            raise fail(f"unknown action {action!r}: use start, stop, status or fetch")
    except localbroker.BrokerError as exc:
        raise fail(str(exc)) from None


# --- enrich (offline) ------------------------------------------------------------------------

def _read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


@app.command(
    option("--batch-size", type=int, default=32, help="Dispatches handed to spaCy at once."),
)
async def enrich(self: AppCommand, batch_size: int) -> None:
    """Enrich Dispatch JSON lines from stdin into EnrichedDispatch JSON lines on stdout.

    The same code path as the worker, without Kafka: for backfills, debugging and evaluation.
    Invalid lines are reported on stderr with their line number and skipped; the exit status
    is then 1.
    """
    enricher = Enricher.from_settings(settings.spacy_model)
    out = sys.stdout.buffer
    invalid = 0
    batch: list[Dispatch] = []

    def flush() -> None:
        now = utc_now()
        for enriched in enricher.enrich_many([(d, now) for d in batch]):
            out.write(enriched.to_json_bytes() + b"\n")
        out.flush()
        batch.clear()

    for number, line in _read_lines(sys.stdin.buffer):
        try:
            batch.append(decode_dispatch(line))
        except InvalidDispatch as exc:
            invalid += 1
            stderr.print(f"stdin:{number}: {exc.reason}: {exc.message}")
            continue
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    if invalid:
        raise SystemExit(EXIT_FAILURE)


# --- evaluation ----------------------------------------------------------------------------

PIPELINES = ("wirewatch", "ner-only", "raw")


def _load_pipeline(kind: str) -> Language:
    """wirewatch: gazetteer + NER + repairs; ner-only: the model's NER alone; raw: the model
    as shipped, every component."""
    if kind == "raw":
        import spacy

        return spacy.load(settings.spacy_model)
    return build_nlp(settings.spacy_model, curated=kind == "wirewatch")


@app.command(
    argument("path", type=Path),
    option("--pipeline", "kind", type=str, default="wirewatch",
           help="wirewatch (gazetteer, NER, repairs), ner-only (the model's NER alone) or raw "
                "(the model as shipped, all components)."),
    option("--json", "as_json", is_flag=True, default=False,
           help="Print the scores as one JSON object."),
    option("--errors", "show_errors", is_flag=True, default=False,
           help="Also list, per text, the mentions missed and the spurious ones."),
)
async def eval_entities(self: AppCommand, path: Path, kind: str, as_json: bool,
                        show_errors: bool) -> None:
    """Score entity recognition and linking on an annotated file.

    PATH holds JSON lines {"text": ..., "entities": [{"text", "label", "canonical"?}]}, every
    mention listed (as often as it occurs). Prints precision, recall and F1 per label (PER,
    ORG, LOC) and overall, and the share of mentions of gazetteer entities linked to the
    right Wikidata id (canonical may be the gazetteer name or the Wikidata id).
    """
    if kind not in PIPELINES:
        raise fail(f"--pipeline must be one of {', '.join(PIPELINES)}")
    try:
        examples = read_entity_examples(path)
    except (OSError, DataFileError) as exc:
        raise fail(str(exc)) from None
    nlp = _load_pipeline(kind)
    # Linking is scored on the gazetteer entities that have a Wikidata id.
    entries = [e for e in (gazetteer_index(nlp) or load_gazetteer().by_key()).values() if e.qid]
    known = {e.name: e.qid for e in entries if e.qid} | {e.qid: e.qid for e in entries if e.qid}
    index = gazetteer_index(nlp)
    report = EntityReport()
    began = time.perf_counter()
    docs = nlp.pipe([example.text for example in examples], batch_size=32)
    for example, doc in zip(examples, docs, strict=True):
        predicted = [PredictedEntity(e.text, e.label, e.canonical, e.wikidata_id)
                     for e in entities_of(doc, "body", index)]
        score_example(example.entities, predicted, known, report, example.id)
    seconds = time.perf_counter() - began
    if as_json:
        print(json.dumps({"pipeline": kind, "texts": len(examples),
                          "seconds": round(seconds, 3), **report.as_dict()}, indent=2))
    else:
        print(format_entity_report(
            report, f"{path}: {len(examples)} texts, pipeline {kind} ({seconds:.1f}s)"))
        if show_errors:
            for error in report.errors:
                print(f"\n{error['id']}\n  missed:   {', '.join(error['missed'])}"
                      f"\n  spurious: {', '.join(error['spurious'])}")


@app.command(
    argument("path", type=Path),
    option("--json", "as_json", is_flag=True, default=False,
           help="Print the scores and errors as one JSON object."),
    option("--quiet", "-q", "no_errors", is_flag=True, default=False,
           help="Only the scores, not the list of false positives and negatives."),
    option("--anchor", is_flag=True, default=False,
           help="Also score the keyword anchor (keywords in the headline and first 60 "
                "words) on the same items: the baseline any rule set must beat."),
)
async def eval(self: AppCommand, path: Path, as_json: bool, no_errors: bool,
               anchor: bool) -> None:
    """Score topic classification on labelled dispatches.

    PATH holds JSON lines of Dispatch objects that also carry "labels": [topic, ...], the
    watched topics each belongs to. They are classified through the worker's code path;
    prints precision, recall and F1 per topic and macro-averaged, overall and for short
    (<= 60 words) and long (>= 400 words) items, how many alerts stood on the headline, the
    lead or the body, then every false positive and false negative with its score and the
    evidence that scored it.
    """
    enricher = Enricher.from_settings(settings.spacy_model)
    try:
        items = read_labelled_dispatches(path, enricher.topics)
    except (OSError, DataFileError) as exc:
        raise fail(str(exc)) from None
    began = time.perf_counter()
    report = evaluate_topics(enricher, items)
    seconds = time.perf_counter() - began
    baseline = evaluate_anchor(items) if anchor else None
    if as_json:
        print(json.dumps({"dispatches": len(items), "seconds": round(seconds, 3),
                          **report.as_dict(),
                          **({"anchor": baseline.as_dict()} if baseline else {})},
                         indent=2, ensure_ascii=False))
        return
    print(format_topic_report(report, f"{path}: {len(items)} dispatches ({seconds:.1f}s)",
                              show_errors=not no_errors))
    if baseline:
        print()
        print(format_topic_report(baseline, "keyword anchor, same items", show_errors=False))


# --- replay ----------------------------------------------------------------------------------

def default_feed() -> list[Path]:
    return [seeds.SEED_FEED]


def pacing_delays(dispatches: Sequence[Dispatch], rate: float | None,
                  speed: float | None) -> list[float]:
    """Seconds to wait before sending each dispatch: a fixed rate, or the original spacing of
    `published_at` divided by `speed` (no wait where times are missing or go backwards)."""
    if rate:
        return [0.0] + [1.0 / rate] * (len(dispatches) - 1) if dispatches else []
    if not speed:
        return [0.0] * len(dispatches)
    delays = [0.0]
    for previous, current in itertools.pairwise(dispatches):
        if previous.published_at and current.published_at:
            gap = (current.published_at - previous.published_at).total_seconds()
            delays.append(max(gap, 0.0) / speed)
        else:
            delays.append(0.0)
    return delays


@app.command(
    argument("paths", nargs=-1, type=Path),
    option("--rate", type=float, default=None,
           help="Dispatches per second (default: as fast as the broker takes them)."),
    option("--speed", type=float, default=None,
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
    """Publish a feed of dispatches to the input topic.

    PATHS are agency text files (with their 'date YYYY-MM City, Country | AGENCY | date - ...'
    header), JSON lines of dispatches, or folders of them; default: the seed feed.
    Invalid items are reported with file and line, and skipped; the exit status is then 1.
    """
    if rate is not None and speed is not None:
        raise fail("--rate and --speed exclude each other: choose one")
    if (rate is not None and rate <= 0) or (speed is not None and speed <= 0):
        raise fail("--rate and --speed must be positive")
    try:
        items = list(read_feed(list(paths) or default_feed()))
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    errors: list[FeedError] = [item.error for item in items if item.error]
    for error in errors:
        stderr.print(f"[yellow]skipped[/] {error}")
    dispatches = [item.dispatch for item in items if item.dispatch]
    if not dispatches:
        raise fail("the feed holds no valid dispatch")
    target = topic or settings.topic_dispatches
    try:
        await ensure_topics(settings, topics.names.all())
        producer = await start_producer(settings)
    except BrokerConnectionError as exc:
        raise fail(str(exc)) from None
    delays = pacing_delays(dispatches, rate, speed)
    sent = 0
    began = time.monotonic()
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
                    break
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
    stderr.print(f"replayed {sent} dispatch(es) to {target} in {time.monotonic() - began:.1f}s"
                 + (f"; {len(errors)} invalid item(s) skipped" if errors else ""))
    if errors:
        raise SystemExit(EXIT_FAILURE)


# --- subscribe -------------------------------------------------------------------------------

def resolve_topic(name: str) -> str:
    """A Kafka topic from a name: a wirewatch topic, or a watched topic's short name."""
    if name in topics.names.alerts:
        return topics.names.alerts[name]
    return name


MAX_WHY = 5
WHERE = {"headline": "in the headline", "lead": "in the lead", "body": "through the body"}


def _distinct_evidence(alert: Alert) -> list[tuple[tuple[str, str], int]]:
    """Positive evidence as (text, rule) with its count, strongest first."""
    counts: dict[tuple[str, str], int] = {}
    for evidence in alert.evidence:
        if evidence.weight > 0:
            key = (evidence.text, evidence.rule)
            counts[key] = counts.get(key, 0) + 1
    return list(counts.items())


def render_alert(alert: Alert) -> str:
    """An alert as a few readable lines."""
    when = alert.published_at.date().isoformat() if alert.published_at else "date unknown"
    where = ", ".join(p for p in (alert.dateline.city, alert.dateline.country) if p) \
        if alert.dateline else ""
    source = " · ".join(p for p in (when, where, alert.agency or "", alert.dispatch_id) if p)
    why = "; ".join(f"«{text}» ({rule}){f' ×{count}' if count > 1 else ''}"
                    for (text, rule), count in _distinct_evidence(alert)[:MAX_WHY])
    who = ", ".join(f"{e.name} ({e.label})" for e in alert.entities)
    return "\n".join([
        f"[{alert.topic} {alert.score:.2f}, {WHERE[alert.salience]}] {source}",
        f"  {alert.headline or ''}",
        f"  why: {why}",
        f"  entities: {who}",
    ])


def render_record(topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str:
    """A consumed record, readably: alerts in full, other topics in one line."""
    if value is None:
        return f"{topic}: (no value)"
    if topic.startswith(settings.alert_topic_prefix):
        try:
            return render_alert(Alert.model_validate_json(value))
        except ValueError:
            pass
    if topic == settings.topic_dead_letter:
        found = {name: raw.decode("utf-8", "replace") for name, raw in headers}
        return (f"{topic}: {found.get(HEADER_REASON, '?')}: "
                f"{found.get(HEADER_EXCEPTION_MESSAGE, '')}")
    try:
        data: Any = json.loads(value)
    except ValueError:
        return f"{topic}: {value[:200]!r}"
    if isinstance(data, dict) and "id" in data:
        labels = ", ".join(f"{t['topic']} {t['score']:.2f}" for t in data.get("topics", []))
        return f"{topic}: {data['id']} [{labels or 'no watched topic'}]"
    return f"{topic}: {value[:200].decode('utf-8', 'replace')}"


@app.command(
    argument("names", nargs=-1, type=str),
    option("--from-beginning", is_flag=True, default=False,
           help="Start from the oldest message kept, not from new ones."),
    option("--json", "as_json", is_flag=True, default=False,
           help="Print each message value as one JSON line."),
    option("--max", "max_messages", type=int, default=None,
           help="Exit after this many messages."),
    option("--timeout", type=float, default=None,
           help="Exit after this many seconds (status 3 if --max was not reached)."),
    option("--keep-duplicates", is_flag=True, default=False,
           help="Also print alerts redelivered with an alert_id already printed."),
)
async def subscribe(self: AppCommand, names: tuple[str, ...], from_beginning: bool,
                    as_json: bool, max_messages: int | None, timeout: float | None,
                    keep_duplicates: bool) -> None:
    """Print messages of alert topics (default: all of them) as they arrive.

    NAMES are Kafka topics or watched-topic names: `withdrawal` means `alerts.withdrawal`.
    Delivery is at least once: an alert whose alert_id was already printed is a redelivery
    and is skipped (the last 100,000 ids are remembered), unless --keep-duplicates.
    """
    wanted = [resolve_topic(name) for name in names] or list(topics.names.alerts.values())
    unknown = [name for name in wanted if name not in topics.names.all()]
    if unknown:
        raise fail(f"not a wirewatch topic: {', '.join(unknown)}. Known: "
                   f"{', '.join(topics.names.all())}")
    try:
        await ensure_topics(settings, wanted)
        consumer = await start_consumer(settings, wanted, from_beginning=from_beginning)
    except BrokerConnectionError as exc:
        raise fail(str(exc)) from None
    stderr.print(f"listening on {', '.join(wanted)}"
                 f"{' from the beginning' if from_beginning else ''} (Ctrl-C to stop)")
    received = 0
    seen = SeenAlerts()
    deadline = time.monotonic() + timeout if timeout else None
    out = sys.stdout
    try:
        while max_messages is None or received < max_messages:
            wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if wait <= 0:
                break
            batches = await consumer.getmany(timeout_ms=int(wait * 1000))
            for records in batches.values():
                for record in records:
                    if not keep_duplicates and seen.is_duplicate(record.value):
                        continue
                    if as_json:
                        out.write((record.value or b"null").decode("utf-8", "replace") + "\n")
                    else:
                        out.write(render_record(record.topic, record.value,
                                                list(record.headers)) + "\n\n")
                    out.flush()
                    received += 1
                    if max_messages is not None and received >= max_messages:
                        return
    finally:
        await consumer.stop()
    if max_messages is not None and received < max_messages:
        stderr.print(f"timed out after {timeout}s with {received} of {max_messages} messages")
        raise SystemExit(EXIT_TIMEOUT)


WIREWATCH_HELP = """wirewatch: news-wire monitoring on Kafka.

Wire dispatches on the `dispatches` topic are validated, enriched with named entities,
classified into watched topics and fanned out to one alert topic per topic.

\b
  wirewatch broker start      the local development broker
  wirewatch worker -l info    the stream processor (start several to share the load)
  wirewatch replay            publish the seed feed (or your own files)
  wirewatch subscribe         print alerts as they arrive

Every command has --help. Settings are WIREWATCH_* environment variables (see README).
"""


def wirewatch_version() -> str:
    try:
        return metadata.version("wirewatch")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _print_version(context: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not context.resilient_parsing:
        click.echo(f"wirewatch {wirewatch_version()}")
        context.exit()


def _as_wirewatch(cli: click.Group) -> None:
    """Faust's command line under wirewatch's name: its help, its version, and -h for help
    everywhere (Faust gives -h to the worker's web host; --web-host stays)."""
    cli.help = WIREWATCH_HELP
    cli.params = [param for param in cli.params if param.name != "version"]
    cli.params.insert(0, click.Option(
        ["--version"], is_flag=True, expose_value=False, is_eager=True,
        callback=_print_version, help="Show wirewatch's version and exit."))
    for command in cli.commands.values():
        for param in command.params:
            param.opts = [name for name in param.opts if name != "-h"]
    cli.context_settings["help_option_names"] = ["-h", "--help"]


def main() -> None:
    """Console script: the wirewatch commands on Faust's command line."""
    from faust.cli.faust import cli

    _as_wirewatch(cli)
    app.main()
