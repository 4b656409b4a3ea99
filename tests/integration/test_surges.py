"""Surges on the real broker, with real workers: a spike injected into a steady replay fires
one surge alert, steady flow fires none, and a worker killed with SIGKILL mid-window resumes
with its counts.

Surges count by the dispatches' own times, so a replay of an hour of wire takes seconds. The
deployments here use small windows (1-minute steps, 5-minute windows, a baseline of the 6
windows before: 35 minutes of history before anything can be said) and a minimum count of 5.
Every dispatch is keyed alike, so the worker sees them in their order, as a single wire feed.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import SurgeAlert
from streams.clients.kafka import read_records
from streams.settings import Settings
from streams.worker.surges import decode_key_state
from tests.helpers.accounting import produce
from tests.helpers.deployment import (
    Deployment,
    deployment_for,
    start_worker,
    worker_metric,
)

SMALL_WINDOWS = {
    "WIREWATCH_SURGE_STEP_SECONDS": "60",
    "WIREWATCH_SURGE_WINDOW_SECONDS": "300",
    "WIREWATCH_SURGE_BASELINE_WINDOWS": "6",
    "WIREWATCH_SURGE_MIN_COUNT": "5",
    "WIREWATCH_SESSION_TIMEOUT": "10",  # a restarted worker gets a killed one's partitions
}
START = datetime(2021, 8, 30, 6, 0, tzinfo=UTC)
WITHDRAWAL = "Le dernier contingent de soldats américains a quitté l'Afghanistan lundi soir."
# Sentences that name no linked entity and no watched topic: the rest of a dispatch.
FILLERS = (
    "Le festival de Cannes s'est ouvert sous un soleil radieux sur la Croisette.",
    "Les prix de l'énergie ont reculé pour le troisième mois consécutif.",
    "Une tempête a privé d'électricité des milliers de foyers.",
)
SPIKE_MINUTE = 40


def wire(run_id: str, per_minute: list[int], first_minute: int = 0, seed: int = 11
         ) -> list[tuple[bytes, bytes]]:
    """Dispatches on the 2021 withdrawal from Afghanistan: `per_minute[i]` of them
    published in minute `first_minute + i`, in order, all keyed alike."""
    rng = random.Random(seed + first_minute)
    records = []
    for offset, count in enumerate(per_minute):
        minute = first_minute + offset
        for n in range(count):
            published = START + timedelta(minutes=minute, seconds=rng.uniform(0, 59))
            value = {"id": f"{run_id}-{minute:03d}-{n:02d}", "language": "fr",
                     "agency": "AFP", "headline": f"Retrait d'Afghanistan ({minute}.{n})",
                     "body": f"{WITHDRAWAL} {rng.choice(FILLERS)}",
                     "published_at": published.isoformat()}
            records.append((b"wire", json.dumps(value, ensure_ascii=False).encode()))
    return records


def steady(minutes: int, seed: int) -> list[int]:
    """About two dispatches a minute, as a quiet hour of a story brings."""
    rng = random.Random(seed)
    return [rng.choice((1, 2, 2, 3)) for _ in range(minutes)]


def surge_alerts(settings: Settings, until: int, timeout: float = 60,
                 settle: float = 5.0) -> list[SurgeAlert]:
    return [SurgeAlert.model_validate_json(record.value) for record in asyncio.run(
        read_records(settings, [settings.surge_alert_topic], until=until, timeout=timeout,
                     settle=settle))]


def wait_until_processed(settings: Settings, count: int, timeout: float = 120) -> None:
    records = asyncio.run(read_records(settings, [settings.topic_enriched], until=count,
                                       timeout=timeout, settle=0))
    assert len(records) >= count, f"{len(records)} of {count} dispatches processed"


def counted_in_minute(settings: Settings, minute: int) -> int:
    """What the surge changelog holds for the withdrawal watch in `minute` (0 if nothing)."""
    bucket = int((START + timedelta(minutes=minute)).timestamp() // 60)
    latest = None
    for record in asyncio.run(read_records(settings, [settings.surge_changelog_topic],
                                           timeout=10)):
        if record.key == b"watch/withdrawal":
            latest = record.value
    return decode_key_state(latest).buckets.get(bucket, 0) if latest else 0


@pytest.fixture
def surge_deployment(broker: Settings, tmp_path: Path) -> Deployment:
    return deployment_for(uuid.uuid4().hex[:8], tmp_path, **SMALL_WINDOWS)


def test_steady_flow_fires_no_surge(surge_deployment, workers, tmp_path):
    settings = surge_deployment.settings
    workers.append(start_worker(surge_deployment, tmp_path / "worker.log"))
    feed = wire("steady", steady(75, seed=1))
    produce(settings, feed)
    wait_until_processed(settings, len(feed))
    assert surge_alerts(settings, until=1, timeout=15) == []
    # The counts were there to be seen: the gauges show the last window and its baseline.
    time.sleep(2)  # the sightings of the last dispatches are counted after them
    assert worker_metric(surge_deployment,
                  r'wirewatch_surge_window_count\{key="withdrawal",kind="watch"\}') >= 5
    assert worker_metric(surge_deployment,
                  r'wirewatch_surge_baseline\{key="withdrawal",kind="watch"\}') >= 5


def test_a_spike_in_a_steady_replay_fires_one_surge_alert(surge_deployment, workers,
                                                          tmp_path):
    settings = surge_deployment.settings
    workers.append(start_worker(surge_deployment, tmp_path / "worker.log"))
    before, after = steady(SPIKE_MINUTE, seed=2), steady(15, seed=3)
    produce(settings, wire("spike", [*before, 15, *after]))
    alerts = surge_alerts(settings, until=3)
    watch = [a for a in alerts if a.kind == "watch"]
    assert [(a.key, a.count) for a in watch] == [
        ("withdrawal", sum(before[-4:]) + 15)], workers[0].log_text()[-3000:]
    surge = watch[0]
    # Said once the spike's window is confirmed, one step later; about the spike's window.
    assert surge.window_end == START + timedelta(minutes=SPIKE_MINUTE + 2)
    assert surge.baseline_mean < 15 and surge.z_score >= 3
    assert len(surge.top_headlines) == 5
    assert all(h.headline and h.headline.startswith("Retrait d'Afghanistan")
               for h in surge.top_headlines)
    # Afghanistan (Q889), named in every dispatch, surges with it; once each.
    assert sorted((a.kind, a.key) for a in alerts) == [("entity", "Q889"),
                                                      ("watch", "withdrawal")]
    assert worker_metric(surge_deployment, r'wirewatch_surges_total\{kind="watch"\}') == 1


def test_a_worker_sigkilled_mid_window_resumes_with_its_counts(surge_deployment, workers,
                                                               tmp_path):
    settings = surge_deployment.settings
    before, after = steady(SPIKE_MINUTE, seed=4), steady(15, seed=5)
    first_half = wire("kill", [*before, 8])
    workers.append(start_worker(surge_deployment, tmp_path / "first.log"))
    produce(settings, first_half)
    wait_until_processed(settings, len(first_half))
    deadline = time.monotonic() + 30
    while counted_in_minute(settings, SPIKE_MINUTE) < 8:
        assert time.monotonic() < deadline, "the first half of the spike was not counted"
        time.sleep(0.5)
    workers[0].process.send_signal(signal.SIGKILL)
    workers[0].process.wait()
    # The rest of the spike's minute, and the minutes after it, reach the next worker.
    second_half = wire("kill-resumed", [7, *after], first_minute=SPIKE_MINUTE, seed=99)
    produce(settings, second_half)
    workers.append(start_worker(surge_deployment, tmp_path / "second.log"))
    alerts = surge_alerts(settings, until=2, timeout=180)
    watch = [(a.key, a.count) for a in alerts if a.kind == "watch"]
    # Without its counts the second worker would still be learning its baseline (no
    # surge); counting a redelivered sighting twice would give more than this.
    assert watch == [("withdrawal", sum(before[-4:]) + 8 + 7)], workers[1].log_text()[-3000:]
