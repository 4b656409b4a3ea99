"""Watches on Kafka, with a real worker: added, changed and removed while it runs, without a
restart; an invalid one refused at `watch add`, and ignored by the worker when written to
the topic directly."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

from schemas import Alert
from streams.clients.kafka import read_records
from tests.helpers.accounting import PacedFeed, account, dispatch_feed, produce
from tests.helpers.deployment import Deployment, deployment_for, start_worker, worker_metric

ENTITY_WATCH = '''watch: otan
kind: entity
version: "1"
description: NATO named in the headline or the lead
entities: [Q7184]
salience: lead
'''


def alerts_on(deployment: Deployment, topic: str) -> list[Alert]:
    return [Alert.model_validate_json(r.value) for r in asyncio.run(
        read_records(deployment.settings, [topic], timeout=30))]


def wait_for_log(worker, text: str, timeout: float) -> float:
    began = time.monotonic()
    while text not in worker.log_text():
        assert time.monotonic() - began < timeout, f"{text!r} not logged in {timeout}s"
        time.sleep(0.1)
    return time.monotonic() - began


def test_the_shipped_watches_seed_the_topic_and_are_listed(deployment, worker):
    result = deployment.run("watch", "list")
    assert result.returncode == 0, result.stderr.decode()
    names = [line.split("\t")[0] for line in result.stdout.decode().splitlines()]
    assert names == ["iran-deal", "russia-ukraine", "withdrawal"]


def test_a_watch_added_while_the_worker_runs_alerts_and_a_removed_one_stops(
        deployment, worker, tmp_path: Path):
    watch_file = tmp_path / "otan.yaml"
    watch_file.write_text(ENTITY_WATCH, encoding="utf-8")
    added = deployment.run("watch", "add", str(watch_file))
    assert added.returncode == 0, added.stderr.decode()
    seconds = wait_for_log(worker, "otan=1", timeout=5)
    assert seconds < 5
    replayed = deployment.run("replay")
    assert replayed.returncode == 0, replayed.stderr.decode()
    topic = deployment.settings.alert_topic("otan")
    deadline = time.monotonic() + 60
    while not (found := alerts_on(deployment, topic)):
        assert time.monotonic() < deadline, "no alert on the new watch's topic"
        time.sleep(0.5)
    [alert] = found
    assert (alert.topic, alert.watch_version, alert.salience) == ("otan", "1", "lead")
    assert {e.rule for e in alert.evidence} == {"entity:Q7184"}

    removed = deployment.run("watch", "rm", "otan")
    assert removed.returncode == 0, removed.stderr.decode()
    wait_for_log(worker, "watches in force: iran-deal=", timeout=5)
    assert deployment.run("replay").returncode == 0
    time.sleep(8)
    assert len(alerts_on(deployment, topic)) == 1, "a removed watch raised an alert"


def test_an_invalid_watch_is_refused_at_add_with_its_line(deployment, tmp_path: Path):
    broken = tmp_path / "otan.yaml"
    broken.write_text(ENTITY_WATCH.replace("salience: lead", "salience: often"),
                      encoding="utf-8")
    result = deployment.run("watch", "add", str(broken))
    assert result.returncode == 1
    said = " ".join(result.stderr.decode().split())
    assert f"{broken}:6:" in said and "salience" in said, said
    listed = deployment.run("watch", "list").stdout.decode()
    assert "otan" not in listed


def test_an_invalid_watch_written_to_the_topic_is_ignored_logged_and_counted(
        deployment, worker):
    before = worker_metric(deployment, r'wirewatch_watches_refused_total\{watch="withdrawal"\}')
    broken = b"topic: withdrawal\nversion: broken\nthreshold: 7\n"
    produce(deployment.settings, [(b"withdrawal", broken)],
            topic=deployment.settings.topic_watches)
    wait_for_log(worker, "watch withdrawal refused", timeout=10)
    assert "stays in force" in worker.log_text()
    deadline = time.monotonic() + 10
    while worker_metric(deployment,
                 r'wirewatch_watches_refused_total\{watch="withdrawal"\}') <= before:
        assert time.monotonic() < deadline, "the refusal was not counted"
        time.sleep(0.2)
    # The worker still alerts with the last good version.
    listed = deployment.run("watch", "list").stdout.decode()
    assert "withdrawal\ttopic\t2026" in listed


def test_watch_test_lists_the_alerts_a_live_run_then_raises(deployment, worker,
                                                          tmp_path: Path):
    assert deployment.run("replay").returncode == 0  # a recorded stream to test on
    candidate = tmp_path / "otan-lead.yaml"
    candidate.write_text(ENTITY_WATCH.replace("watch: otan", "watch: otan-lead"),
                         encoding="utf-8")
    deadline = time.monotonic() + 60
    while True:
        tested = deployment.run("watch", "test", str(candidate), "--since", "1h")
        assert tested.returncode == 0, tested.stderr.decode()
        predicted = {line.split("\t")[0][2:] for line in tested.stdout.decode().splitlines()
                     if line.startswith("+ ")}
        if predicted or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert predicted, tested.stderr.decode()
    assert "no live version" in tested.stderr.decode()
    # Live: the same watch, the same dispatches again.
    assert deployment.run("watch", "add", str(candidate)).returncode == 0
    wait_for_log(worker, "otan-lead=1", timeout=5)
    assert deployment.run("replay").returncode == 0
    topic = deployment.settings.alert_topic("otan-lead")
    deadline = time.monotonic() + 60
    while not (raised := {a.dispatch_id for a in alerts_on(deployment, topic)}):
        assert time.monotonic() < deadline, "the live watch raised nothing"
        time.sleep(0.5)
    assert raised == predicted
    # A stricter version of a live watch: what it would take away, and nothing changed.
    strict = tmp_path / "withdrawal.yaml"
    shipped = deployment.run("watch", "show", "withdrawal").stdout.decode()
    strict.write_text(re.sub(r"(?m)^threshold: .*$", "threshold: 0.99", shipped),
                      encoding="utf-8")
    tested = deployment.run("watch", "test", str(strict), "--last", "1")
    assert tested.returncode == 0, tested.stderr.decode()
    assert [line[:2] for line in tested.stdout.decode().splitlines()] == ["- "]
    assert "1 removed" in tested.stderr.decode()


def test_a_watch_added_and_removed_during_a_live_feed_loses_and_repeats_nothing(
        broker, tmp_path: Path):
    deployment = deployment_for(uuid.uuid4().hex[:8], tmp_path)
    settings = deployment.settings
    feed = dispatch_feed(settings.app_id, 300)
    worker = start_worker(deployment, tmp_path / "worker.log")
    try:
        live = PacedFeed(settings, feed, rate=30)
        live.start()
        time.sleep(2)
        watch_file = tmp_path / "otan.yaml"
        watch_file.write_text(ENTITY_WATCH, encoding="utf-8")
        assert deployment.run("watch", "add", str(watch_file)).returncode == 0
        wait_for_log(worker, "otan=1", timeout=5)
        time.sleep(2)
        assert deployment.run("watch", "rm", "otan").returncode == 0
        live.join()
        result = account(settings, "watch added and removed during a live feed",
                         [key for key, _ in feed])
    finally:
        assert worker.stop() == 0, worker.log_text()[-3000:]
    assert not result.lost, f"{len(result.lost)} lost"
    assert result.duplicated == 0 and not result.misrouted
