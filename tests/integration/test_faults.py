"""Fault injection on the real broker: feeds of uniquely keyed dispatches go through workers
that are killed, stopped, joined by others and cut off from a killed broker; then, key by
key, every dispatch must be in the enriched topic (or the dead-letter topic for bad input)
and duplicates are counted. Each case's numbers are appended to the fault matrix file that
RELIABILITY.md reports."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.devbroker import broker as localbroker
from streams.settings import Settings
from streams.worker.processing import (
    HEADER_EXCEPTION_CLASS,
    HEADER_EXCEPTION_MESSAGE,
    HEADER_OFFSET,
    HEADER_PARTITION,
    HEADER_REASON,
    HEADER_TOPIC,
)
from tests.helpers.accounting import (
    Account,
    PacedFeed,
    account,
    dispatch_feed,
    produce,
    read_to_end,
    record_result,
)
from tests.helpers.dead_letters import spring_headers, text_headers
from tests.helpers.deployment import (
    WIREWATCH,
    Deployment,
    WorkerProcess,
    deployment_for,
    free_port,
)
from tests.helpers.deployment import start_worker as _start_worker

MATRIX = Path(os.environ.get("WIREWATCH_FAULT_MATRIX", ".wirewatch/fault-matrix.jsonl"))
NLP_FAULT_DIR = Path(__file__).parent / "nlp_fault"
NLP_FAULT_MARKER = "«injected NLP failure»"  # see nlp_fault/sitecustomize.py
# Short enough that a restarted worker gets a killed one's partitions quickly.
FAULT_ENV = {"WIREWATCH_SESSION_TIMEOUT": "10"}
# Bound on duplicates per crash: a commit interval (1 s) of the feed rates used here (at
# most ~100 dispatches/s on a CI machine) plus a batch in flight, with room.
CRASH_DUPLICATES = 150
# Workers that join or leave gracefully commit what they acknowledged before partitions move
# (app.CommitBeforeRevokeConsumer): 0 or 1 measured; one batch of room for a racing commit.
GRACEFUL_REBALANCE_DUPLICATES = 16
SEED = int(os.environ.get("WIREWATCH_FAULT_SEED", str(int(time.time()))))


@pytest.fixture
def fault_deployment(broker: Settings, tmp_path: Path) -> Deployment:
    return deployment_for(uuid.uuid4().hex[:8], tmp_path, **FAULT_ENV)


def start_worker(deployment: Deployment, log: Path) -> WorkerProcess:
    worker = _start_worker(deployment, log)
    _workers.append(worker)
    return worker


_workers: list[WorkerProcess] = []


@pytest.fixture(autouse=True)
def _no_worker_left_behind() -> Iterator[None]:
    yield
    while _workers:
        worker = _workers.pop()
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def metric(deployment: Deployment, name: str) -> float:
    """A counter of the worker's /metrics page (0 while the page does not answer)."""
    url = f"http://127.0.0.1:{deployment.settings.web_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            page = response.read().decode()
    except OSError:
        return 0.0
    found = re.search(rf"^{name} ([0-9.e+]+)$", page, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def wait_until_enriched(deployment: Deployment, worker: WorkerProcess, count: int,
                        timeout: float = 120) -> None:
    """Wait until this worker process has enriched `count` dispatches."""
    deadline = time.monotonic() + timeout
    while metric(deployment, "wirewatch_dispatches_enriched_total") < count:
        assert worker.process.poll() is None, f"worker died:\n{worker.log_text()[-3000:]}"
        assert time.monotonic() < deadline, f"worker enriched fewer than {count} in {timeout}s"
        time.sleep(0.05)


def check_no_loss(result: Account, allowed_duplicates: int, **extra: object) -> None:
    record_result(result, {"seed": SEED, **extra}, MATRIX)
    lost = sorted(key.decode() for key in result.lost)
    assert not lost, f"{len(lost)} dispatches lost (seed {SEED}): {lost[:20]}"
    assert not result.misrouted, f"misrouted: {sorted(result.misrouted)[:20]}"
    assert result.duplicated <= allowed_duplicates, (
        f"{result.duplicated} duplicates, more than the {allowed_duplicates} allowed")


def test_sigterm_stops_gracefully_without_loss_or_duplicates(fault_deployment, tmp_path):
    settings = fault_deployment.settings
    feed = dispatch_feed(settings.app_id, 400)
    produce(settings, feed)
    rng = random.Random(SEED)
    stops, stop_seconds = 3, []
    for attempt in range(stops):
        worker = start_worker(fault_deployment, tmp_path / f"worker-{attempt}.log")
        wait_until_enriched(fault_deployment, worker, rng.randint(10, 90))
        began = time.monotonic()
        code = worker.stop(timeout=60)
        stop_seconds.append(time.monotonic() - began)
        assert code == 0, f"SIGTERM exit code {code}:\n{worker.log_text()[-3000:]}"
    start_worker(fault_deployment, tmp_path / "worker-last.log")
    result = account(settings, f"SIGTERM x{stops} mid-stream, restart after each",
                     [k for k, _ in feed])
    check_no_loss(result, allowed_duplicates=0,
                  slowest_stop_seconds=round(max(stop_seconds), 1))


def test_sigkill_at_random_points_then_restart_loses_nothing(fault_deployment, tmp_path):
    settings = fault_deployment.settings
    feed = dispatch_feed(settings.app_id, 400)
    produce(settings, feed)
    rng = random.Random(SEED)
    kills = 3
    for attempt in range(kills):
        worker = start_worker(fault_deployment, tmp_path / f"worker-{attempt}.log")
        wait_until_enriched(fault_deployment, worker, rng.randint(10, 90))
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
    start_worker(fault_deployment, tmp_path / "worker-last.log")
    result = account(settings, f"SIGKILL x{kills} mid-stream, restart after each",
                     [k for k, _ in feed])
    # What a killed worker processed since its last commit is processed again: a bounded
    # number per kill (commit interval x throughput, plus the batch in flight).
    check_no_loss(result, allowed_duplicates=kills * CRASH_DUPLICATES, kills=kills)


def second_deployment(deployment: Deployment) -> Deployment:
    """Another worker of the same deployment (same group and topics, its own web port)."""
    port = free_port()
    return Deployment(env={**deployment.env, "WIREWATCH_WEB_PORT": str(port)},
                      settings=deployment.settings.model_copy(update={"web_port": port}))


def test_second_worker_joining_and_leaving_loses_nothing(fault_deployment, tmp_path):
    settings = fault_deployment.settings
    feed = dispatch_feed(settings.app_id, 1200)
    first = start_worker(fault_deployment, tmp_path / "worker-a.log")
    # 30 s of wire: a second worker needs 10-15 s to load its model and join, and both of its
    # rebalances (joining, leaving) must land while dispatches still arrive.
    live = PacedFeed(settings, feed, rate=40)
    live.start()
    wait_until_enriched(fault_deployment, first, 40)
    other = second_deployment(fault_deployment)
    second = start_worker(other, tmp_path / "worker-b.log")
    wait_until_enriched(other, second, 10)
    assert live.is_alive(), "the feed ended before the second worker joined: slow it down"
    code = second.stop(timeout=60)
    assert code == 0, f"leaving worker exit code {code}:\n{second.log_text()[-3000:]}"
    live.join()
    result = account(settings, "second worker joins then leaves during a live feed",
                     [k for k, _ in feed])
    assert first.process.poll() is None, "the first worker keeps running"
    check_no_loss(result, allowed_duplicates=GRACEFUL_REBALANCE_DUPLICATES)


def test_broker_killed_and_restarted_mid_stream_loses_nothing(private_broker, tmp_path):
    deployment = deployment_for(uuid.uuid4().hex[:8], tmp_path, **FAULT_ENV,
                                WIREWATCH_BOOTSTRAP_SERVERS=private_broker.bootstrap_servers)
    settings = deployment.settings
    feed = dispatch_feed(settings.app_id, 300)
    produce(settings, feed)
    worker = start_worker(deployment, tmp_path / "worker.log")
    wait_until_enriched(deployment, worker, random.Random(SEED).randint(30, 120))
    pid = localbroker.running_pid(localbroker.BrokerPaths.from_settings(private_broker))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    down_began = time.monotonic()
    time.sleep(5)
    localbroker.start(private_broker)
    down_seconds = time.monotonic() - down_began
    result = account(settings, "broker SIGKILL mid-stream, restarted", [k for k, _ in feed])
    assert worker.process.poll() is None, (
        f"the worker survives the broker's restart:\n{worker.log_text()[-3000:]}")
    check_no_loss(result, allowed_duplicates=CRASH_DUPLICATES,
                  broker_down_seconds=round(down_seconds, 1))


def poison_records(run_id: str) -> dict[str, tuple[bytes | None, bytes | None, str]]:
    """Hostile inputs by name: (key, value, the dead-letter reason expected)."""

    def dispatch(**fields: object) -> bytes:
        return json.dumps({"id": f"{run_id}-x", "language": "fr", "body": "Texte.",
                           **fields}).encode()

    return {
        "invalid JSON": (b"p-json", b'{"id": "p-json", "body": ', "invalid_json"),
        "invalid UTF-8": (b"p-utf8", b'{"id": "p-utf8", "body": "\xff\xfe"}', "invalid_utf8"),
        "JSON of the wrong shape": (b"p-shape", b'["not", "a", "dispatch"]',
                                    "invalid_dispatch"),
        "missing body": (b"p-missing", json.dumps({"id": "p-missing", "language": "fr"}
                                                  ).encode(), "invalid_dispatch"),
        "absurd language": (b"p-lang", dispatch(language="français du XVIe siècle"),
                            "invalid_dispatch"),
        "absurd date": (b"p-date", dispatch(published_at="2021-13-45T99:00:00Z"),
                        "invalid_dispatch"),
        "id with control characters": (b"p-ctrl", dispatch(id="abc\u0000\u0007"),
                                       "invalid_dispatch"),
        "5 MB body": (b"p-huge", dispatch(body="Lorem ipsum. " * 400_000), "too_large"),
        "empty value": (b"p-empty", b"", "invalid_json"),
        "tombstone": (b"p-null", None, "invalid_json"),
        "NLP step raises": (b"p-nlp", dispatch(id="p-nlp", body="Le sommet s'ouvre. "
                                               + NLP_FAULT_MARKER), "processing_error"),
    }


def test_poison_input_is_dead_lettered_with_its_origin_and_the_stream_goes_on(
        fault_deployment, tmp_path):
    deployment = Deployment(
        env={**fault_deployment.env, "PYTHONPATH": str(NLP_FAULT_DIR)},
        settings=fault_deployment.settings)
    settings = deployment.settings
    good = dispatch_feed(settings.app_id, 200)
    poison = poison_records(settings.app_id)
    # Poison scattered through the feed: good dispatches before and after each one.
    rng = random.Random(SEED)
    records = list(good)
    for key, value, _ in poison.values():
        records.insert(rng.randrange(len(records) + 1), (key, value))
    positions = dict(zip([key for key, _ in records], produce(settings, records), strict=True))
    worker = start_worker(deployment, tmp_path / "worker.log")

    expected_dead = [key for key, _, _ in poison.values() if key is not None]
    result = account(settings, "poison input (11 kinds) among 200 good dispatches",
                     [k for k, _ in good], expected_dead)
    assert worker.process.poll() is None, "the worker keeps running"
    check_no_loss(result, allowed_duplicates=0)

    dead = {record.key: record for record in read_to_end(settings, [settings.topic_dead_letter])}
    for name, (key, value, reason) in poison.items():
        record = dead[key]
        headers = text_headers(record.headers)
        spring = spring_headers(record.headers)
        partition, offset = positions[key]
        assert record.value == value, f"{name}: the original value, unchanged"
        assert headers[HEADER_REASON] == reason, f"{name}: {headers}"
        assert headers[HEADER_TOPIC] == settings.topic_dispatches
        assert (int(headers[HEADER_PARTITION]), int(headers[HEADER_OFFSET])) == (partition,
                                                                                  offset)
        assert (spring["kafka_dlt-original-partition"], spring["kafka_dlt-original-offset"]
                ) == (partition, offset), "Spring's binary headers agree"
        assert spring["kafka_dlt-original-topic"] == settings.topic_dispatches
        assert spring["kafka_dlt-original-timestamp"] > 0
        assert spring["kafka_dlt-original-timestamp-type"] == "CreateTime"
        assert headers[HEADER_EXCEPTION_CLASS], name
        assert len(headers[HEADER_EXCEPTION_MESSAGE]) > 5, name
    nlp_headers = text_headers(dead[b"p-nlp"].headers)
    assert nlp_headers[HEADER_EXCEPTION_CLASS] == "InjectedNLPError"
    assert "injected by the test" in nlp_headers[HEADER_EXCEPTION_MESSAGE]


def test_two_workers_stopped_together_under_load_both_exit_and_lose_nothing(
        fault_deployment, tmp_path):
    # Each worker's leaving rebalances the other while it is stopping itself.
    settings = fault_deployment.settings
    feed = dispatch_feed(settings.app_id, 600)
    deployments = [fault_deployment, second_deployment(fault_deployment)]
    workers = [start_worker(d, tmp_path / f"worker-{n}.log") for n, d in enumerate(deployments)]
    live = PacedFeed(settings, feed, rate=50)
    live.start()
    for deployment, worker in zip(deployments, workers, strict=True):
        wait_until_enriched(deployment, worker, 20)
    began = time.monotonic()
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.process.wait(timeout=90)
    stop_seconds = time.monotonic() - began
    codes = [worker.process.returncode for worker in workers]
    assert codes == [0, 0], f"exit codes {codes}:\n{workers[0].log_text()[-2000:]}"
    start_worker(fault_deployment, tmp_path / "worker-last.log")
    live.join()
    result = account(settings, "two workers SIGTERM at once during a live feed, restart",
                     [k for k, _ in feed])
    check_no_loss(result, allowed_duplicates=GRACEFUL_REBALANCE_DUPLICATES,
                  stop_seconds=round(stop_seconds, 1))


def test_subscribe_prints_a_redelivered_alert_once(fault_deployment):
    # What a crash or rebalance leaves on an alert topic: the same alert twice.
    settings = fault_deployment.settings
    topic = settings.alert_topic("withdrawal")
    first, other = (json.dumps({"alert_id": alert_id, "topic": "withdrawal",
                                "dispatch_id": "d"}).encode() for alert_id in ("a-1", "a-2"))
    produce(settings, [(b"d", first), (b"d", other), (b"d", first)], topic=topic)

    def subscribe(*flags: str) -> list[str]:
        result = fault_deployment.run("subscribe", "withdrawal", "--from-beginning",
                                      "--value-only", "--timeout", "8", *flags)
        assert result.returncode == 0, result.stderr.decode()
        return [json.loads(line)["alert_id"] for line in result.stdout.decode().splitlines()]

    assert sorted(subscribe()) == ["a-1", "a-2"]
    assert sorted(subscribe("--keep-duplicates")) == ["a-1", "a-1", "a-2"]


def test_replay_says_how_far_it_got_when_the_broker_dies_and_that_much_is_kept(
        private_broker, tmp_path):
    deployment = deployment_for(uuid.uuid4().hex[:8], tmp_path, WIREWATCH_SEND_TIMEOUT="3",
                                WIREWATCH_BOOTSTRAP_SERVERS=private_broker.bootstrap_servers)
    settings = deployment.settings
    replay = subprocess.Popen([WIREWATCH, "replay", "--repeat", "--rate", "20"],
                              env=deployment.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    time.sleep(12)  # start-up, then a few seconds of dispatches
    pid = localbroker.running_pid(localbroker.BrokerPaths.from_settings(private_broker))
    assert pid is not None and replay.poll() is None
    os.kill(pid, signal.SIGKILL)
    began = time.monotonic()
    _, err = replay.communicate(timeout=60)
    assert replay.returncode == 1
    assert time.monotonic() - began < 30, "gives up within the send timeout, not never"
    found = re.search(r"the broker stopped taking dispatches \(.*\): (\d+) dispatches",
                      err.decode())
    assert found, err.decode()[-2000:]
    written = int(found.group(1))
    assert written > 0
    localbroker.start(private_broker)
    kept = read_to_end(settings, [settings.topic_dispatches])
    assert len(kept) >= written, "every dispatch replay reported as written is on the topic"


def test_sigterm_with_the_broker_gone_exits_in_bounded_time_and_says_what_is_uncommitted(
        private_broker, tmp_path):
    deployment = deployment_for(uuid.uuid4().hex[:8], tmp_path, **FAULT_ENV,
                                WIREWATCH_BOOTSTRAP_SERVERS=private_broker.bootstrap_servers,
                                WIREWATCH_STOP_TIMEOUT="10")
    feed = dispatch_feed(deployment.settings.app_id, 100)
    produce(deployment.settings, feed)
    worker = start_worker(deployment, tmp_path / "worker.log")
    wait_until_enriched(deployment, worker, 20)
    pid = localbroker.running_pid(localbroker.BrokerPaths.from_settings(private_broker))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(3)  # the worker notices: its fetches and commits now fail
    began = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    try:
        code = worker.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 60 s after SIGTERM:\n{worker.log_text()[-3000:]}")
    seconds = time.monotonic() - began
    log = worker.log_text()
    # 10 s, plus the interpreter's own exit; an orchestrator kills after 10-30 s.
    assert seconds < 10 + 5, f"took {seconds:.1f}s to exit:\n{log[-3000:]}"
    assert code != 0, "a stop that could not commit is not a clean exit"
    [line] = [line for line in log.splitlines() if "could not commit" in line]
    assert "redelivered" in line, line
