"""Running wirewatch against the real broker in tests: deployments on topics of their own,
worker processes, and reading what they published."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord

from streams.clients.kafka import read_records
from streams.devbroker import broker as localbroker
from streams.settings import Settings
from tests.helpers import WIREWATCH, free_port


@dataclass(frozen=True)
class Deployment:
    """A worker's settings, as environment variables and as the settings object."""

    env: dict[str, str]
    settings: Settings

    def run(self, *args: str, timeout: float = 120, stdin: bytes | None = None,
            env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run a `wirewatch` CLI command against this deployment's topics (`env_extra`:
        more `WIREWATCH_*` variables for this run only)."""
        return subprocess.run([WIREWATCH, *args], env={**self.env, **(env_extra or {})},
                              input=stdin, capture_output=True, timeout=timeout, check=False)


def deployment_for(run_id: str, tmp: Path, **extra: str) -> Deployment:
    """A deployment on topics and a consumer group of its own; `extra` overrides more
    `WIREWATCH_*` variables (e.g. `WIREWATCH_BOOTSTRAP_SERVERS`)."""
    overrides = {
        "WIREWATCH_APP_ID": f"wirewatch-it-{run_id}",
        "WIREWATCH_TOPIC_RAW": f"it-{run_id}.dispatches.raw",
        "WIREWATCH_TOPIC_DISPATCHES": f"it-{run_id}.dispatches",
        "WIREWATCH_TOPIC_ENRICHED": f"it-{run_id}.dispatches.enriched",
        "WIREWATCH_TOPIC_DEAD_LETTER": f"it-{run_id}.dispatches.dlq",
        "WIREWATCH_ALERT_TOPIC_PREFIX": f"it-{run_id}.alerts.",
        "WIREWATCH_TOPIC_WATCHES": f"it-{run_id}.watches",
        "WIREWATCH_WEB_PORT": str(free_port()),
        "WIREWATCH_STATE_DIR": str(tmp / "state"),
        **extra,
    }
    env = {**os.environ, **overrides}
    settings = Settings(**{k.removeprefix("WIREWATCH_").lower(): v for k, v in overrides.items()})
    return Deployment(env=env, settings=settings)


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 60) -> int:
        return stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, then SIGKILL if it still runs `timeout` seconds later; its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def private_broker(state_dir: Path) -> Iterator[Settings]:
    """A broker of its own on free ports, so that killing it disturbs no other test."""
    port = free_port()
    settings = Settings(state_dir=state_dir, broker_port=port, controller_port=free_port(),
                        broker_heap="512m", bootstrap_servers=f"127.0.0.1:{port}")
    localbroker.start(settings)
    try:
        yield settings
    finally:
        localbroker.stop(settings)


def start_worker(deployment: Deployment, log: Path) -> WorkerProcess:
    """Start `wirewatch worker` and wait until its metrics page answers."""
    with log.open("ab") as out:
        process = subprocess.Popen([WIREWATCH, "worker", "-l", "info"], env=deployment.env,
                                   stdout=out, stderr=subprocess.STDOUT)
    worker = WorkerProcess(process, log)
    url = f"http://127.0.0.1:{deployment.settings.web_port}/metrics"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}:\n{worker.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return worker
        except OSError:
            time.sleep(0.2)
    worker.stop()
    pytest.fail(f"worker did not serve {url} within 90s:\n{worker.log_text()[-3000:]}")


def worker_metric(deployment: Deployment, pattern: str) -> float:
    """The value of the one series of the worker's `/metrics` that `pattern` (a regular
    expression of name and labels) matches; 0 when absent."""
    url = f"http://127.0.0.1:{deployment.settings.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        page = response.read().decode()
    found = re.search(rf"^{pattern} ([0-9.e+]+)$", page, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def consume(settings: Settings, topics: list[str], *, until: int, timeout: float = 60,
            settle: float = 2.0) -> list[ConsumerRecord]:
    """Read `topics` from the beginning until `until` records arrived (then `settle` more
    seconds, to catch extras) or `timeout` passed."""
    return asyncio.run(read_records(settings, topics, until=until, timeout=timeout,
                                    settle=settle))
