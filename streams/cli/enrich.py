"""`wirewatch enrich`: the worker's enrichment offline, JSON lines in and out."""

from __future__ import annotations

import sys

import click
from faust.cli import AppCommand, option

from schemas import Dispatch
from schemas.models import utc_now
from streams.cli.common import EXIT_FAILURE, settings, stderr
from streams.feeds.decode import InvalidDispatch, decode_dispatch
from streams.nlp.datafiles import numbered_lines
from streams.nlp.enrich import NLP_BATCH_SIZE, Enricher
from streams.worker.app import app


@app.command(
    option("--batch-size", type=click.IntRange(min=1), default=NLP_BATCH_SIZE,
           help="Dispatches enriched together (spaCy processes their texts as one batch)."),
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

    for number, line in numbered_lines(sys.stdin.buffer):
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
