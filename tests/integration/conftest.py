"""Integration fixtures: the real local broker (started by `make test`) and a real worker
process on topics unique to this test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from streams.clients.kafka import broker_answers
from streams.settings import Settings
from tests.helpers.deployment import (
    Deployment,
    WorkerProcess,
    deployment_for,
    start_worker,
)
from tests.helpers.deployment import private_broker as own_broker

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder talks to the broker: mark it, so that
    `pytest -m "not integration"` runs without one."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker() -> Settings:
    settings = Settings()
    # In a thread: a browser test may ask first, inside Playwright's running event loop,
    # where `broker_answers`' asyncio.run cannot run.
    with ThreadPoolExecutor(max_workers=1) as thread:
        answers = thread.submit(broker_answers, settings).result()
    if not answers:
        pytest.fail(f"no Kafka broker answers at {settings.bootstrap_servers}: integration "
                    "tests run on the real broker that `make test` starts")
    return settings


@pytest.fixture(scope="module")
def deployment(broker: Settings, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return deployment_for(uuid.uuid4().hex[:8], tmp_path_factory.mktemp("deployment"))


@pytest.fixture(scope="module")
def worker(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    process = start_worker(deployment, tmp_path_factory.mktemp("worker") / "worker.log")
    yield process
    code = process.stop()
    assert code == 0, f"worker did not stop cleanly ({code}):\n{process.log_text()[-3000:]}"


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts (and may SIGKILL): any still running is killed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Settings]:
    """A broker of this test's own, so that killing it does not disturb other tests."""
    with own_broker(tmp_path / "broker-state") as settings:
        yield settings
