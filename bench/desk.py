"""The desk in the real browser: dispatch-to-card latency at half of one worker's throughput,
and a burst of 2,000 alerts against the page's responsiveness and memory.

    .venv/bin/python bench/desk.py [--dispatches 400] [--seed 7] [--burst 2000]

Needs the local broker (`wirewatch broker start`) and Debian's Chromium (/usr/bin/chromium).
In one run, on topics of its own:

1. B2: one worker's throughput on a corpus of realistic dispatches (bench/pipeline.py's);
2. open loop: a warmed-up worker fed at half of B2's rate, with a desk and a page open in
   Chromium. For each alert: written to `dispatches` (its Kafka timestamp) -> the alert
   record (its Kafka timestamp: the pipeline's own latency, the baseline) -> its card drawn
   (the second animation frame after the card entered the page, i.e. after it was painted);
3. burst: 2,000 alerts written straight to an alert topic as fast as Kafka takes them, while
   a key is typed into the search box every 100 ms; each keystroke's delay from the key
   event to the next frame, against the same typing on the idle page before the burst; the
   page's JS heap (after a forced GC) and card count before, after one burst and after a
   second one (bounded: the second adds nothing).

Prints a Markdown summary; BENCHMARKS.md has the numbers of a run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import make_corpus, preload, stop, worker_env  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from schemas import Alert  # noqa: E402
from streams.clients.kafka import ensure_topics, read_records, start_producer  # noqa: E402
from streams.nlp.rules import watched_topics  # noqa: E402
from streams.settings import Settings  # noqa: E402

WIREWATCH = str(Path(sys.executable).with_name("wirewatch"))
WATCHED = watched_topics()
DESK_PORT = 18080
T = TypeVar("T")

# Installed before the page's own script: when each card was drawn, by alert id.
RECORD_DRAWN = """
window.__drawn = {};
new MutationObserver(mutations => {
  const added = [];
  for (const m of mutations) for (const n of m.addedNodes) {
    const card = n.querySelector ? n.querySelector("article.card") : null;
    if (card) added.push(card.dataset.alertId);
  }
  if (added.length) requestAnimationFrame(() => requestAnimationFrame(() => {
    const now = performance.timeOrigin + performance.now();
    for (const id of added) if (!(id in window.__drawn)) window.__drawn[id] = now;
  }));
}).observe(document, {childList: true, subtree: true});
window.__keys = [];
document.addEventListener("input", event => {
  const typed = event.timeStamp;
  requestAnimationFrame(() => window.__keys.push(performance.now() - typed));
}, true);
"""


def in_thread(function: Callable[[], T]) -> T:
    """Run `function` in a thread of its own: Playwright's sync API keeps an event loop
    running in this one, where asyncio.run cannot start another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def wait_for_workers_output(settings: Settings, topic: str, count: int) -> list:
    return in_thread(lambda: asyncio.run(read_records(settings, [topic], until=count,
                                                      timeout=1800)))


def b2_rate(settings: Settings, run: str, corpus: list) -> float:
    prefix = f"bench-{run}-b2"
    input_topic = f"{prefix}.dispatches"
    asyncio.run(ensure_topics(settings, [input_topic]))
    asyncio.run(preload(settings, input_topic, corpus))
    process = subprocess.Popen([WIREWATCH, "worker", "-l", "warn"],
                               env=worker_env(prefix, input_topic, f"{prefix}-g", 16080),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        enriched = wait_for_workers_output(settings, f"{prefix}.enriched", len(corpus))
    finally:
        stop([process])
    stamps = sorted(r.timestamp for r in enriched)
    return (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1000)


def type_keys(page: Page, seconds: float) -> list[float]:
    """Type a key into the search box every 100 ms for `seconds`; each key's delay (ms)
    from its event to the next frame."""
    page.evaluate("window.__keys = []")
    page.focus("#filter-text")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.keyboard.type("z")
        page.keyboard.press("Backspace")
        page.wait_for_timeout(100)
    page.wait_for_timeout(200)
    return list(page.evaluate("window.__keys"))


def heap_mb(page: Page) -> float:
    session = page.context.new_cdp_session(page)
    session.send("HeapProfiler.collectGarbage")
    used = session.send("Runtime.getHeapUsage")["usedSize"]
    session.detach()
    return float(used) / 1e6


async def burst(settings: Settings, topic: str, template: Alert, count: int) -> None:
    producer = await start_producer(settings)
    try:
        for number in range(count):
            alert = template.model_copy(update={"alert_id": str(uuid.uuid4()),
                                                "dispatch_id": f"burst-{number}"})
            await producer.send(topic, alert.model_dump_json().encode(),
                                key=alert.dispatch_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dispatches", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=None,
                        help="Skip B2 and feed the open loop at this rate.")
    args = parser.parse_args()
    settings = Settings()
    run = uuid.uuid4().hex[:6]
    corpus = make_corpus(args.dispatches, args.seed)
    full_rate = args.rate * 2 if args.rate else b2_rate(settings, run, corpus)
    rate = full_rate / 2
    print(f"B2: one worker, {full_rate:.1f} dispatches/s; open loop at {rate:.2f}/s",
          file=sys.stderr)

    prefix = f"bench-{run}-desk"
    input_topic = f"{prefix}.dispatches"
    env = worker_env(prefix, input_topic, f"{prefix}-g", 16081)
    alert_topics = [f"{prefix}.alerts.{t}" for t in WATCHED]
    asyncio.run(ensure_topics(settings, [input_topic, f"{prefix}.enriched", *alert_topics]))
    worker = subprocess.Popen([WIREWATCH, "worker", "-l", "warn"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    desk = subprocess.Popen([WIREWATCH, "desk"], env={**env, "WIREWATCH_DESK_PORT":
                                                      str(DESK_PORT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        warm = corpus[-1]
        asyncio.run(preload(settings, input_topic, [warm]))
        wait_for_workers_output(settings, f"{prefix}.enriched", 1)  # the worker is warm
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox"] if os.geteuid() == 0 else [])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(RECORD_DRAWN)
            for _ in range(100):
                try:
                    page.goto(f"http://127.0.0.1:{DESK_PORT}/")
                    break
                except Exception:  # the desk is still starting
                    time.sleep(0.3)
            page.wait_for_selector('#connection[data-state="live"]')

            feed = corpus[: max(int(rate * 60), 50)]
            feed_path = Path(f"/tmp/bench-{run}-desk-feed.jsonl")
            feed_path.write_bytes(b"".join(d.to_json_bytes() + b"\n" for d in feed))
            subprocess.run([WIREWATCH, "replay", str(feed_path), "--rate", f"{rate:.2f}"],
                           env=env, check=True, stderr=subprocess.DEVNULL)
            enriched = wait_for_workers_output(settings, f"{prefix}.enriched", len(feed) + 1)
            del enriched
            time.sleep(3)  # the last cards drawn
            inputs = {r.key: r.timestamp for r in in_thread(lambda: asyncio.run(
                read_records(settings, [input_topic])))}
            alerts = in_thread(lambda: asyncio.run(read_records(settings, alert_topics)))
            drawn = page.evaluate("window.__drawn")
            pipeline_ms, card_ms = [], []
            for record in alerts:
                if record.key == warm.id.encode() or record.key not in inputs:
                    continue
                alert = Alert.model_validate_json(record.value)
                pipeline_ms.append(record.timestamp - inputs[record.key])
                if alert.alert_id in drawn:
                    card_ms.append(drawn[alert.alert_id] - inputs[record.key])
            missing = len(pipeline_ms) - len(card_ms)

            idle_keys = type_keys(page, 5)
            heap_before, cards_before = heap_mb(page), page.locator("article.card").count()
            template = Alert.model_validate_json(alerts[0].value)
            burst_keys: list[float] = []
            heaps = []
            for _ in range(2):
                sender = threading.Thread(target=lambda: asyncio.run(
                    burst(settings, alert_topics[0], template, args.burst)))
                sender.start()
                burst_keys += type_keys(page, 6)
                sender.join(120)
                page.wait_for_timeout(3000)
                heaps.append((heap_mb(page), page.locator("article.card").count(),
                              page.evaluate("window.wirewatchDesk.stats()")))
            browser.close()
    finally:
        stop([worker])
        desk.terminate()
        desk.wait(30)

    print(f"open loop: {len(feed)} dispatches at {rate:.2f}/s (half of one worker's "
          f"{full_rate:.1f}/s), {len(pipeline_ms)} alerts, {len(card_ms)} cards drawn"
          f"{f', {missing} not drawn' if missing else ''}")
    print()
    print("| measure | p50 | p95 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, values in (("dispatch -> alert record (pipeline, baseline), ms", pipeline_ms),
                         ("dispatch -> card drawn in Chromium, ms", card_ms),
                         ("key -> next frame, idle page, ms", idle_keys),
                         (f"key -> next frame, during {args.burst}-alert bursts, ms",
                          burst_keys)):
        print(f"| {name} | {percentile(values, .5):.0f} | {percentile(values, .95):.0f} | "
              f"{percentile(values, .99):.0f} | {max(values):.0f} |")
    print()
    card_p99, pipeline_p99 = percentile(card_ms, .99), percentile(pipeline_ms, .99)
    print(f"- card p99 {card_p99 / 1000:.3f} s (target <= 1 s); desk and browser add "
          f"{card_p99 - pipeline_p99:.0f} ms at p99 over the pipeline (ratio "
          f"{card_p99 / pipeline_p99:.2f})")
    print(f"- keys during the bursts: p99 {percentile(burst_keys, .99):.0f} ms, max "
          f"{max(burst_keys):.0f} ms (target: answered within 100 ms); idle p99 "
          f"{percentile(idle_keys, .99):.0f} ms")
    print(f"- JS heap after GC: {heap_before:.1f} MB with {cards_before} cards; after burst "
          f"1: {heaps[0][0]:.1f} MB, {heaps[0][1]} cards, {json.dumps(heaps[0][2])}; after "
          f"burst 2: {heaps[1][0]:.1f} MB, {heaps[1][1]} cards, {json.dumps(heaps[1][2])}")
    print(f"- median of the {len(card_ms)} card latencies: "
          f"{statistics.median(card_ms):.0f} ms")


if __name__ == "__main__":
    main()
