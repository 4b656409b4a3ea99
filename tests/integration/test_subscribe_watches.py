"""`wirewatch subscribe` and the watches on Kafka, with a real worker: without names it
follows the alert topic of a watch added while it runs; a watch added at runtime and
`surge` are names it takes; a surge alert prints readably."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import Alert, SurgeAlert, SurgeHeadline, surge_alert_id
from tests.helpers import WIREWATCH
from tests.helpers.accounting import produce
from tests.helpers.deployment import Deployment, stop_process

ENTITY_WATCH = '''watch: {name}
kind: entity
version: "1"
description: NATO named in the headline or the lead
entities: [Q7184]
salience: lead
'''


def add_watch(deployment: Deployment, tmp_path: Path, name: str) -> None:
    watch_file = tmp_path / f"{name}.yaml"
    watch_file.write_text(ENTITY_WATCH.format(name=name), encoding="utf-8")
    added = deployment.run("watch", "add", str(watch_file))
    assert added.returncode == 0, added.stderr.decode()


def a_surge(kind: str, key: str, name: str) -> SurgeAlert:
    end = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    return SurgeAlert(
        alert_id=surge_alert_id(key, end), kind=kind, key=key, name=name, count=23,
        baseline_mean=9.8, baseline_spread=3.1, z_score=4.2,
        window_start=end - timedelta(hours=1), window_end=end, alerted_at=end,
        top_headlines=[SurgeHeadline(story_id="s1", dispatch_id="d1", score=0.93,
                                     headline="Les derniers soldats français quittent le Mali",
                                     published_at=end - timedelta(minutes=5))])


class Lines:
    """The stdout lines of a running process, read in a thread, to wait on with a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self.lines.put(line.decode()) for line in stdout],
                         daemon=True).start()

    def wait_for(self, condition, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if condition(line):
                return line
        raise AssertionError(f"no such line in {timeout}s")


@contextmanager
def subscribing(deployment: Deployment, log: Path, *args: str
                ) -> Iterator[tuple[subprocess.Popen[bytes], Lines]]:
    """`wirewatch subscribe --json ARGS`, running, listening."""
    with log.open("wb") as err:
        process = subprocess.Popen([WIREWATCH, "subscribe", "--json", *args],
                                   env=deployment.env, stdout=subprocess.PIPE, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "subscribe did not start listening"
            time.sleep(0.1)
        yield process, Lines(process)
    finally:
        stop_process(process, 10)


@pytest.fixture
def subscriber(deployment: Deployment, tmp_path: Path
               ) -> Iterator[tuple[subprocess.Popen[bytes], Lines]]:
    """`wirewatch subscribe --json` without names, running, listening."""
    with subscribing(deployment, tmp_path / "subscribe.err") as running:
        yield running


def quick_alert(deployment: Deployment, name: str, dispatch_id: str) -> Alert:
    """An alert on watch `name`'s topic, published as the worker would."""
    alert = Alert(alert_id=str(uuid.uuid4()), topic=name, score=0.9, evidence=[],
                  dispatch_id=dispatch_id, headline="L'OTAN se réunit", entities=[],
                  alerted_at=datetime(2026, 3, 2, tzinfo=UTC))
    produce(deployment.settings, [(alert.alert_id.encode(), alert.model_dump_json().encode())],
            topic=deployment.settings.alert_topic(name))
    return alert


def test_without_names_it_prints_the_alert_of_a_watch_added_while_it_runs(
        deployment, worker, subscriber, tmp_path: Path):
    process, lines = subscriber
    add_watch(deployment, tmp_path, "otan")
    topic = deployment.settings.alert_topic("otan")
    assert deployment.run("replay").returncode == 0
    line = lines.wait_for(lambda text: json.loads(text)["topic"] == topic, timeout=90)
    alert = Alert.model_validate(json.loads(line)["payload"])
    assert (alert.topic, alert.watch_version) == ("otan", "1")
    assert process.poll() is None


def test_a_new_watch_topic_is_found_within_seconds(deployment, subscriber, tmp_path: Path):
    _, lines = subscriber
    name = f"otan-{uuid.uuid4().hex[:6]}"
    add_watch(deployment, tmp_path, name)
    began = time.monotonic()
    # Published right after the topic is made, before subscribe can have found it: it is
    # read from the topic's beginning, not missed.
    alert = quick_alert(deployment, name, "quick-1")
    line = lines.wait_for(lambda text: json.loads(text)["payload"].get("topic") == name,
                          timeout=15)
    assert json.loads(line)["payload"]["alert_id"] == alert.alert_id
    assert time.monotonic() - began < 6


def test_a_consumer_group_also_follows_a_new_watch_topic_from_its_beginning(
        deployment, tmp_path: Path):
    group = f"{deployment.settings.app_id}-{uuid.uuid4().hex[:6]}"
    name = f"otan-{uuid.uuid4().hex[:6]}"
    with subscribing(deployment, tmp_path / "group.err", "--group", group) as (_, lines):
        add_watch(deployment, tmp_path, name)
        alert = quick_alert(deployment, name, "group-1")
        line = lines.wait_for(lambda text: json.loads(text)["payload"].get("topic") == name,
                              timeout=30)
        assert json.loads(line)["payload"]["alert_id"] == alert.alert_id
    again = deployment.run("subscribe", "--group", group, "--json", "--timeout", "8")
    assert again.returncode == 0, again.stderr.decode()
    assert alert.alert_id not in again.stdout.decode(), "printed, so committed"


def test_a_watch_added_at_runtime_and_surge_are_names_it_takes(deployment, tmp_path: Path):
    name = f"otan-{uuid.uuid4().hex[:6]}"
    add_watch(deployment, tmp_path, name)
    alert = Alert(alert_id=str(uuid.uuid4()), topic=name, score=0.9, evidence=[],
                  dispatch_id="named-1", headline="Sommet de l'OTAN", entities=[],
                  alerted_at=datetime(2026, 3, 2, tzinfo=UTC))
    produce(deployment.settings, [(alert.alert_id.encode(), alert.model_dump_json().encode())],
            topic=deployment.settings.alert_topic(name))
    result = deployment.run("subscribe", name, "-o", "beginning", "-e")
    assert result.returncode == 0, result.stderr.decode()
    assert f"[{name} 0.90" in result.stdout.decode()
    assert "Sommet de l'OTAN" in result.stdout.decode()

    unknown = deployment.run("subscribe", "no-such-watch")
    assert unknown.returncode == 2
    said = unknown.stderr.decode()
    assert "not a wirewatch topic: no-such-watch" in said
    assert name in said and "surge" in said and "withdrawal" in said


def test_a_surge_alert_prints_readably_and_passes_its_entitys_filter(deployment):
    putin = a_surge("entity", "Q7747", "Vladimir Putin")
    mali = a_surge("watch", "withdrawal", "withdrawal")
    produce(deployment.settings, [(s.alert_id.encode(), s.model_dump_json().encode())
                                  for s in (putin, mali)],
            topic=deployment.settings.surge_alert_topic)
    result = deployment.run("subscribe", "surge", "-o", "beginning", "-e")
    assert result.returncode == 0, result.stderr.decode()
    printed = result.stdout.decode()
    assert ("[surge withdrawal: 23 stories in the hour to 2026-03-02 14:05 UTC, "
            "baseline 9.8 ± 3.1, z 4.2]\n  · Les derniers soldats français quittent le Mali"
            ) in printed
    assert "[surge Vladimir Putin (Q7747): 23 stories" in printed

    everything = deployment.run("subscribe", "-o", "beginning", "-e", "--entity", "Q7747")
    assert everything.returncode == 0, everything.stderr.decode()
    assert "[surge Vladimir Putin (Q7747)" in everything.stdout.decode()
    assert "[surge withdrawal" not in everything.stdout.decode()
