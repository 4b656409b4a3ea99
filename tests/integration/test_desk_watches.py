"""The desk and the watches on Kafka, as an HTTP client sees it: the alerts of a watch added
while the desk runs reach its live stream within seconds, the watch joins the topic filter,
and a surge alert comes as a `surge` event."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from schemas import Alert, SurgeAlert, SurgeHeadline, surge_alert_id
from tests.helpers.accounting import produce
from tests.helpers.deployment import Deployment
from tests.helpers.desk import DeskProcess, start_desk

ENTITY_WATCH = '''watch: {name}
kind: entity
version: "1"
description: NATO in the lead
entities: [Q7184]
salience: lead
'''


@pytest.fixture(scope="module")
def desk(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory):
    process = start_desk(deployment, tmp_path_factory.mktemp("desk") / "desk.log")
    yield process
    assert process.stop() == 0, process.log_text()[-3000:]


async def first_event(url: str, wanted, timeout: float) -> tuple[str, dict]:
    """The first (event, data) of a fresh live stream for which `wanted(event, data)`."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/events") as response:
        assert response.status == 200
        deadline = time.monotonic() + timeout
        kind = None
        while (left := deadline - time.monotonic()) > 0:
            line = (await asyncio.wait_for(response.content.readline(), left)).decode()
            if line.startswith("event: "):
                kind = line.removeprefix("event: ").strip()
            elif line.startswith("data: ") and kind in ("alert", "surge"):
                data = json.loads(line.removeprefix("data: "))
                if wanted(kind, data):
                    return kind, data
        raise AssertionError(f"no such event in {timeout}s")


def config(desk: DeskProcess) -> dict:
    with urllib.request.urlopen(f"{desk.url}/api/config", timeout=10) as response:
        return json.loads(response.read())


def test_the_alerts_of_a_watch_added_while_the_desk_runs_reach_it(
        desk: DeskProcess, deployment: Deployment, tmp_path: Path):
    name = f"otan-{uuid.uuid4().hex[:6]}"
    watch_file = tmp_path / f"{name}.yaml"
    watch_file.write_text(ENTITY_WATCH.format(name=name), encoding="utf-8")
    added = deployment.run("watch", "add", str(watch_file))
    assert added.returncode == 0, added.stderr.decode()
    alert = Alert(alert_id=str(uuid.uuid4()), topic=name, score=0.8, evidence=[],
                  dispatch_id="desk-otan-1", headline="L'OTAN renforce son flanc est",
                  entities=[], alerted_at=datetime(2026, 3, 2, tzinfo=UTC))
    # Published as the worker would, as soon as the watch is in force: before the desk can
    # have found the new topic, which it then reads from its beginning.
    produce(deployment.settings, [(alert.alert_id.encode(), alert.model_dump_json().encode())],
            topic=deployment.settings.alert_topic(name))
    began = time.monotonic()
    kind, data = asyncio.run(first_event(
        desk.url, lambda kind, data: data.get("alert_id") == alert.alert_id, timeout=15))
    assert (kind, data["topic"], data["headline"]) == (
        "alert", name, "L'OTAN renforce son flanc est")
    assert time.monotonic() - began < 6
    assert {"name": name, "description": "NATO in the lead"} in config(desk)["watched"]
    with urllib.request.urlopen(f"{desk.url}/?topic={name}", timeout=10) as page:
        assert page.status == 200, "the new watch is a topic the page filters by"


def test_a_surge_alert_reaches_the_live_stream_as_a_surge_event(
        desk: DeskProcess, deployment: Deployment):
    end = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    surge = SurgeAlert(
        alert_id=surge_alert_id(f"Q7184-{uuid.uuid4().hex[:6]}", end), kind="entity",
        key="Q7184", name="OTAN", count=23, baseline_mean=9.8, baseline_spread=3.1,
        z_score=4.2, window_start=end - timedelta(hours=1), window_end=end, alerted_at=end,
        top_headlines=[SurgeHeadline(story_id="s1", dispatch_id="d1", score=1.0,
                                     headline="L'OTAN se réunit en urgence",
                                     published_at=end)])
    produce(deployment.settings, [(surge.alert_id.encode(), surge.model_dump_json().encode())],
            topic=deployment.settings.surge_alert_topic)
    kind, data = asyncio.run(first_event(
        desk.url, lambda kind, data: data.get("alert_id") == surge.alert_id, timeout=15))
    assert kind == "surge"
    assert SurgeAlert.model_validate(data) == surge
    assert "surge" in [entry["name"] for entry in config(desk)["watched"]]
