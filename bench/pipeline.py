"""Throughput, latency and scaling of the whole pipeline, side by side in one run.

    .venv/bin/python bench/pipeline.py [--dispatches 2000] [--seed 7]

Needs the local broker (`wirewatch broker start`). Generates a fixed corpus (seeded) of
realistic French dispatches of 100-800 words from the sentences of the development sets,
pre-loads it into an input topic, and measures on the same corpus:

- B0: the enrichment and classification functions alone, one process, no Kafka (the floor);
- B1: a plain aiokafka loop: consume -> the same functions -> produce;
- B2: the wirewatch worker, one process;
- B3: the wirewatch worker, two processes sharing the partitions (one per core);
- open loop: one worker fed at half of B2's rate, for latency under normal load.

Every process runs its linear algebra on one thread (OPENBLAS_NUM_THREADS=1), so that a
worker is one core's worth of work and workers scale by processes. Throughput is measured
between the first and the last output record (their Kafka timestamps), so start-up time is
left out. Prints a Markdown table; BENCHMARKS.md has the numbers of a run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer  # noqa: E402

from schemas import Dispatch  # noqa: E402
from schemas.models import utc_now  # noqa: E402
from streams.clients.kafka import ensure_topics, read_records, start_producer  # noqa: E402
from streams.nlp.enrich import Enricher  # noqa: E402
from streams.nlp.rules import watched_topics  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.worker.processing import OutputTopics, enriched_records  # noqa: E402

WIREWATCH = str(Path(sys.executable).with_name("wirewatch"))
WATCHED = watched_topics()


def make_corpus(count: int, seed: int) -> list[Dispatch]:
    """Dispatches of 100-800 words made of the development sets' sentences, reproducibly."""
    sentences: list[str] = []
    for name in ("topics/team-dev.jsonl", "entities_dev.jsonl"):
        for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            text = item.get("body") or item.get("text") or ""
            sentences.extend(s.strip() + "." for s in text.replace("\n", " ").split(". ")
                             if len(s.split()) > 4)
    rng = random.Random(seed)
    corpus = []
    for number in range(count):
        target = rng.randint(100, 800)
        paragraphs: list[str] = []
        words = 0
        while words < target:
            paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 4)))
            paragraphs.append(paragraph)
            words += len(paragraph.split())
        corpus.append(Dispatch(id=f"bench-{seed}-{number}", language="fr",
                               headline=rng.choice(sentences)[:120].rstrip("."),
                               body="\n\n".join(paragraphs)))
    return corpus


@dataclass
class Result:
    name: str
    dispatches: int
    seconds: float
    words: int
    latencies: list[float]
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.dispatches / self.seconds

    def row(self) -> str:
        def pct(q: float) -> str:
            if not self.latencies:
                return "-"
            ordered = sorted(self.latencies)
            return f"{ordered[min(int(q * len(ordered)), len(ordered) - 1)]:.2f}"

        rss = f"{self.peak_rss_mb:.0f}" if self.peak_rss_mb else "-"
        return (f"| {self.name} | {self.rate:.1f} | {self.words / self.seconds:,.0f} | "
                f"{pct(0.5)} | {pct(0.95)} | {pct(0.99)} | {rss} |")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def b0(enricher: Enricher, corpus: list[Dispatch], batch: int) -> Result:
    now = utc_now()
    began = time.perf_counter()
    for start in range(0, len(corpus), batch):
        enricher.enrich_many([(d, now) for d in corpus[start:start + batch]])
    seconds = time.perf_counter() - began
    return Result("B0 functions alone, no Kafka", len(corpus), seconds,
                  sum(len(d.body.split()) for d in corpus), [],
                  peak_rss_mb(os.getpid()))


async def preload(settings: Settings, topic: str, corpus: list[Dispatch],
                  by_story: bool = False) -> None:
    """The corpus on `topic`, keyed by dispatch id (or, `by_story`, by story id, as the
    ingest agent keys agency stories)."""
    producer = await start_producer(settings)
    try:
        for dispatch in corpus:
            key = (dispatch.story_id if by_story and dispatch.story_id else dispatch.id)
            await producer.send(topic, dispatch.to_json_bytes(), key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def measure(settings: Settings, name: str, prefix: str, corpus: list[Dispatch],
            input_timestamps: dict[bytes, int], rss: float | None) -> Result:
    enriched = asyncio.run(read_records(settings, [f"{prefix}.enriched"], until=len(corpus),
                                        timeout=1800))
    alerts = asyncio.run(read_records(settings, [f"{prefix}.alerts.{t}" for t in WATCHED],
                                      until=1, timeout=15))
    stamps = sorted(r.timestamp for r in enriched)
    seconds = (stamps[-1] - stamps[0]) / 1000 * len(corpus) / max(len(corpus) - 1, 1)
    latencies = [(r.timestamp - input_timestamps[r.key]) / 1000 for r in alerts
                 if r.key in input_timestamps]
    return Result(name, len(enriched), seconds, sum(len(d.body.split()) for d in corpus),
                  latencies, rss)


async def b1_loop(settings: Settings, enricher: Enricher, input_topic: str, prefix: str,
                  count: int, batch: int) -> None:
    """What a hand-written consumer achieves: consume, enrich, produce, commit."""
    outputs = OutputTopics(enriched=f"{prefix}.enriched", dead_letter=f"{prefix}.dlq",
                           alerts={t: f"{prefix}.alerts.{t}" for t in WATCHED},
                           top_entities_in_alert=8)
    consumer = AIOKafkaConsumer(input_topic, bootstrap_servers=settings.bootstrap_servers,
                                group_id=f"{prefix}-b1", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    producer = await start_producer(settings)
    await consumer.start()
    done = 0
    try:
        while done < count:
            for records in (await consumer.getmany(timeout_ms=1000,
                                                    max_records=batch)).values():
                dispatches = [Dispatch.model_validate_json(r.value) for r in records]
                now = utc_now()
                for enriched in enricher.enrich_many([(d, now) for d in dispatches]):
                    for out in enriched_records(enriched, outputs):
                        await producer.send(out.kafka_topic, out.value, key=out.key)
                done += len(records)
            await producer.flush()
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def worker_env(prefix: str, input_topic: str, group: str, port: int) -> dict[str, str]:
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "WIREWATCH_APP_ID": group,
            "WIREWATCH_TOPIC_RAW": f"{prefix}.raw",
            "WIREWATCH_TOPIC_DISPATCHES": input_topic,
            "WIREWATCH_TOPIC_ENRICHED": f"{prefix}.enriched",
            "WIREWATCH_TOPIC_DEAD_LETTER": f"{prefix}.dlq",
            "WIREWATCH_ALERT_TOPIC_PREFIX": f"{prefix}.alerts.",
            "WIREWATCH_WEB_PORT": str(port),
            "WIREWATCH_STATE_DIR": f"/tmp/{group}"}


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then SIGKILL for a worker still running a minute later (and say so)."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            print(f"worker {process.pid} did not stop within 60 s of SIGTERM; killed",
                  file=sys.stderr)
            process.kill()
            process.wait()


def run_workers(settings: Settings, name: str, prefix: str, input_topic: str,
                corpus: list[Dispatch], stamps: dict[bytes, int], workers: int,
                env: dict[str, str] | None = None) -> Result:
    """Run `workers` worker processes over the preloaded input (`env`: more settings)."""
    group = f"{prefix}-group"
    processes = [subprocess.Popen([WIREWATCH, "worker", "-l", "warn"],
                                  env={**worker_env(prefix, input_topic, group, 16066 + n),
                                       **(env or {})},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for n in range(workers)]
    try:
        enriched = asyncio.run(read_records(settings, [f"{prefix}.enriched"], until=len(corpus),
                                        timeout=1800))
        rss = max((peak_rss_mb(p.pid) or 0) for p in processes)
    finally:
        stop(processes)
    del enriched
    return measure(settings, name, prefix, corpus, stamps, rss)


def side_by_side(settings: Settings, runs: dict[str, tuple[list[Dispatch], bool,
                                                           dict[str, str]]],
                 rounds: int) -> dict[str, float]:
    """Each run (name -> corpus, keyed by story, worker settings) through one worker
    process, `rounds` times, the order alternating each round; the median dispatches/s of
    each run."""
    prefix_base = f"bench-{uuid.uuid4().hex[:6]}"
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for round_number in range(rounds):
        names = list(runs) if round_number % 2 == 0 else list(reversed(runs))
        for name in names:
            corpus, by_story, env = runs[name]
            prefix = f"{prefix_base}-{name}{round_number}"
            input_topic = f"{prefix}.dispatches"
            asyncio.run(ensure_topics(settings, [
                input_topic, f"{prefix}.enriched", f"{prefix}.dlq",
                *(f"{prefix}.alerts.{t}" for t in WATCHED)]))
            asyncio.run(preload(settings, input_topic, corpus, by_story=by_story))
            stamps = {r.key: r.timestamp for r in asyncio.run(
                read_records(settings, [input_topic], until=len(corpus), timeout=120))}
            result = run_workers(settings, f"{name} round {round_number}", prefix,
                                 input_topic, corpus, stamps, 1, env=env)
            rates[name].append(result.rate)
            print(f"{name} round {round_number}: {result.rate:.1f} dispatches/s",
                  file=sys.stderr)
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispatches", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--open-loop-rate", type=float, default=None,
                        help="Skip B0-B3 and run only the open loop at this rate.")
    args = parser.parse_args()
    settings = Settings()
    corpus = make_corpus(args.dispatches, args.seed)
    words = sum(len(d.body.split()) for d in corpus)
    run = uuid.uuid4().hex[:6]
    input_topic = f"bench-{run}.dispatches"
    names = [input_topic] + [f"bench-{run}-{b}.{suffix}" for b in ("b1", "b2", "b3", "open")
                             for suffix in ("enriched", "dlq",
                                            *(f"alerts.{t}" for t in WATCHED))]
    asyncio.run(ensure_topics(settings, names))
    print(f"corpus: {len(corpus)} dispatches, {words} words "
          f"({words / len(corpus):.0f} per dispatch), seed {args.seed}", file=sys.stderr)

    enricher = Enricher.from_settings(settings.spacy_model)
    enricher.enrich(corpus[0])  # warm-up
    # The NLP step alone for one dispatch, for the latency target.
    one_by_one = []
    for dispatch in corpus[:200]:
        began = time.perf_counter()
        enricher.enrich(dispatch)
        one_by_one.append(time.perf_counter() - began)
    nlp_p99 = sorted(one_by_one)[int(0.99 * len(one_by_one)) - 1]
    if args.open_loop_rate:
        open_loop(settings, run, corpus, args.open_loop_rate, nlp_p99, one_by_one, [])
        return
    results = [b0(enricher, corpus, settings.batch_size)]
    print(results[0].row(), file=sys.stderr)

    asyncio.run(preload(settings, input_topic, corpus))
    stamps = {r.key: r.timestamp for r in asyncio.run(
        read_records(settings, [input_topic], until=len(corpus), timeout=120))}

    prefix = f"bench-{run}-b1"
    asyncio.run(b1_loop(settings, enricher, input_topic, prefix, len(corpus),
                        settings.batch_size))
    results.append(measure(settings, "B1 plain aiokafka loop", prefix, corpus, stamps,
                           peak_rss_mb(os.getpid())))
    print(results[-1].row(), file=sys.stderr)
    results.append(run_workers(settings, "B2 wirewatch worker, 1 process",
                               f"bench-{run}-b2", input_topic, corpus, stamps, 1))
    print(results[-1].row(), file=sys.stderr)
    results.append(run_workers(settings, "B3 wirewatch workers, 2 processes",
                               f"bench-{run}-b3", input_topic, corpus, stamps, 2))
    print(results[-1].row(), file=sys.stderr)

    open_loop(settings, run, corpus, results[2].rate / 2, nlp_p99, one_by_one, results)


def open_loop(settings: Settings, run: str, corpus: list[Dispatch], rate: float,
              nlp_p99: float, one_by_one: list[float], results: list[Result]) -> None:
    """A warmed-up worker fed at `rate` (half of B2's), for latency under normal load."""
    b2_rate = rate * 2
    open_prefix = f"bench-{run}-open"
    open_input = f"{open_prefix}.dispatches"
    asyncio.run(ensure_topics(settings, [open_input]))
    feed = corpus[: min(len(corpus), max(int(b2_rate / 2 * 60), 50))]
    process = subprocess.Popen([WIREWATCH, "worker", "-l", "warn"],
                               env=worker_env(open_prefix, open_input,
                                              f"{open_prefix}-group", 16070),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(preload(settings, open_input, corpus[-1:]))  # wait for the worker:
        asyncio.run(read_records(settings, [f"{open_prefix}.enriched"], until=1,
                                 timeout=300))  # it is warm
        feed_path = Path(f"/tmp/bench-{run}-feed.jsonl")
        feed_path.write_bytes(b"".join(d.to_json_bytes() + b"\n" for d in feed))
        subprocess.run([WIREWATCH, "replay", str(feed_path), "--rate", f"{b2_rate / 2:.2f}",
                        "--topic", open_input],
                       env=worker_env(open_prefix, open_input, f"{open_prefix}-replay", 16099),
                       check=True, stderr=subprocess.DEVNULL)
        warm_up = corpus[-1].id.encode()  # its latency includes the worker's start-up
        open_stamps = {r.key: r.timestamp for r in asyncio.run(
            read_records(settings, [open_input], until=len(feed) + 1, timeout=60))
            if r.key != warm_up}
        asyncio.run(read_records(settings, [f"{open_prefix}.enriched"], until=len(feed) + 1,
                                 timeout=600))
        open_rss = peak_rss_mb(process.pid)
    finally:
        stop([process])
    open_result = measure(settings, f"open loop at {b2_rate / 2:.1f}/s (half of B2), 1 worker",
                          open_prefix, feed, open_stamps, open_rss)
    open_result.seconds = len(feed) / (b2_rate / 2)  # the offered rate, not a capacity

    print("| run | dispatches/s | words/s | latency p50 (s) | p95 | p99 | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in [*results, open_result]:
        print(result.row())
    if results:
        b0r, b1r, b2r, b3r = (r.rate for r in results)
        print()
        print(f"- B2 / B0 = {b2r / b0r:.2f} (target >= 0.90); B2 / B1 = {b2r / b1r:.2f} "
              f"(target >= 1.0); B3 / B2 = {b3r / b2r:.2f} (target >= 1.8)")
    open_p99 = sorted(open_result.latencies)[int(0.99 * len(open_result.latencies)) - 1] \
        if open_result.latencies else float("nan")
    print(f"- open loop p99 end-to-end {open_p99:.3f} s vs NLP step alone for one dispatch "
          f"p99 {nlp_p99:.3f} s: ratio {open_p99 / nlp_p99:.2f} (target <= 2)")
    print(f"- NLP step alone, one dispatch: median {statistics.median(one_by_one):.3f} s")


if __name__ == "__main__":
    main()
