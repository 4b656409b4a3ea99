"""One alert per story, on the real broker with real workers: a story sent by an agency as
flash, urgent, full dispatch, correction and kill gives, on each watched topic it touched, one
`new`, its `updated` revisions and a `retracted`; shuffled and repeated versions end in the
same state; a worker SIGKILLed mid-story resumes from the story states in their changelog,
and a story moves with its partition to another worker."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from pathlib import Path
from typing import TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas import Alert, EnrichedDispatch, alert_id_for
from streams.clients.kafka import connection_options, read_records
from streams.settings import Settings
from tests.helpers import free_port
from tests.helpers.accounting import produce
from tests.helpers.deployment import Deployment, deployment_for, start_worker
from tests.helpers.stories import EXPECTED_IN_ORDER, IRAN, R, Version, W, flash_to_kill

T = TypeVar("T", Alert, EnrichedDispatch)
WATCHED = (W, R, IRAN)
IN_ORDER_ALERTS = sum(len(revisions) for revisions in EXPECTED_IN_ORDER.values())


def send(deployment: Deployment, versions: list[Version]) -> None:
    """The documents to the raw topic in this order, keyed by story as an agency connector
    keeps a story's order (the ingest agent keys the dispatches by story too)."""
    produce(deployment.settings, [(v.story_id.encode(), v.document) for v in versions],
            topic=deployment.settings.topic_raw)


def _read(settings: Settings, topics: list[str], model: type[T]) -> list[T]:
    records = asyncio.run(read_records(settings, topics, timeout=30))
    for record in records:
        if model is Alert:  # keyed by alert id: compaction keeps each alert's latest
            assert record.key == Alert.model_validate_json(record.value).alert_id.encode()
    return [model.model_validate_json(record.value) for record in records]


def story_alerts(settings: Settings, story: str, *, until: int, timeout: float = 120,
                 settle: float = 3.0) -> list[Alert]:
    """The alerts of one story on the watched topics' alert topics, once at least `until`
    arrived (then `settle` seconds more, to catch any extra)."""
    topics = [settings.alert_topic(t) for t in WATCHED]
    deadline = time.monotonic() + timeout
    while True:
        mine = [a for a in _read(settings, topics, Alert) if a.story_id == story]
        if len(mine) >= until or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if settle:
        time.sleep(settle)
        mine = [a for a in _read(settings, topics, Alert) if a.story_id == story]
    return mine


def wait_enriched(settings: Settings, story: str, count: int, timeout: float = 120) -> None:
    """Wait until `count` versions of the story are enriched: all processed."""
    deadline = time.monotonic() + timeout
    while sum(d.story_id == story for d in _read(settings, [settings.topic_enriched],
                                                   EnrichedDispatch)) < count:
        assert time.monotonic() < deadline, f"{count} versions of {story} not enriched"
        time.sleep(0.5)


def revisions(alerts: list[Alert]) -> dict[str, list[tuple[int, int, str]]]:
    """Per watched topic, the distinct (version, revision, status) published, by revision;
    each redelivered copy must be the same publication (same version and status)."""
    by_key: dict[tuple[str, int], tuple[int, str]] = {}
    for alert in alerts:
        seen = by_key.setdefault((alert.topic, alert.revision), (alert.version, alert.status))
        assert seen == (alert.version, alert.status), f"{alert.topic} revision " \
            f"{alert.revision} published as {seen} and as {(alert.version, alert.status)}"
    out: dict[str, list[tuple[int, int, str]]] = {}
    for (topic, revision), (version, status) in sorted(by_key.items()):
        out.setdefault(topic, []).append((version, revision, status))
    return out


def final_state(alerts: list[Alert]) -> dict[str, tuple[int, str | None, float]]:
    """What a subscriber reading the compacted topics ends with: per topic, the latest
    revision when it is live (not retracted): the version, headline and score it shows."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        if alert.topic not in latest or alert.revision > latest[alert.topic].revision:
            latest[alert.topic] = alert
    return {topic: (a.version, a.headline, a.score) for topic, a in latest.items()
            if a.status != "retracted"}


def story_id() -> str:
    return f"urn:newsml:afp.com:20210414:IT-{uuid.uuid4().hex[:10]}"


def test_flash_to_kill_gives_new_then_updated_then_retracted_on_each_topic(deployment,
                                                                             worker):
    story = story_id()
    versions = flash_to_kill(story)
    send(deployment, versions)
    alerts = story_alerts(deployment.settings, story, until=IN_ORDER_ALERTS)
    assert revisions(alerts) == EXPECTED_IN_ORDER
    assert len(alerts) == IN_ORDER_ALERTS, "no alert published twice in a quiet run"
    for alert in alerts:
        assert alert.alert_id == alert_id_for(story, alert.topic)
    by_revision = {(a.topic, a.revision): a for a in alerts}
    # An update shows its version: the correction strikes the Iran deal from the text.
    assert by_revision[(R, 2)].status == "updated" and by_revision[(R, 2)].score > 0
    assert by_revision[(IRAN, 2)].status == "retracted"
    assert (by_revision[(IRAN, 2)].score, by_revision[(IRAN, 2)].evidence) == (0.0, [])
    assert by_revision[(W, 1)].urgency == 1 and by_revision[(W, 5)].pub_status == "canceled"
    assert final_state(alerts) == {}

    # What a desk sees with `wirewatch subscribe`: each revision once, said as such.
    result = deployment.run("subscribe", "-o", "beginning", "-e", "--timeout", "60")
    assert result.returncode == 0, result.stderr.decode()
    printed = [block for block in result.stdout.decode().split("\n\n") if story in block
               or "ANNULÉ" in block or "Blinken" in block]
    heads = [block.splitlines()[0] for block in printed if block.strip()]
    assert sum("RETRACTED, revision 5" in h for h in heads) == 1  # withdrawal, by the kill
    assert sum("UPDATED revision 4" in h for h in heads) == 1
    assert any("the agency killed the story (version 5)" in block for block in printed)
    assert any("a later version is no longer about this topic (version 4)" in block
               for block in printed)

    # The alert topics and the story table's changelog are compacted.
    configs = asyncio.run(cleanup_policies(deployment.settings, [
        *(deployment.settings.alert_topic(t) for t in WATCHED),
        deployment.settings.story_changelog_topic, deployment.settings.topic_enriched]))
    assert configs == {**{deployment.settings.alert_topic(t): "compact" for t in WATCHED},
                       deployment.settings.story_changelog_topic: "compact,delete",
                       deployment.settings.topic_enriched: "delete"}


async def cleanup_policies(settings: Settings, topics: list[str]) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**connection_options(settings))
    await admin.start()
    try:
        responses = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, t, {"cleanup.policy": None})
            for t in topics])
    finally:
        await admin.close()
    return {resource["resource_name"]: entry["config_value"]
            for response in responses for resource in response.to_object()["resources"]
            for entry in resource["config_entries"] if entry["config_names"] == "cleanup.policy"}


@pytest.mark.parametrize("with_kill", [False, True], ids=["to-correction", "to-kill"])
def test_shuffled_and_repeated_versions_end_in_the_same_final_state(deployment, worker,
                                                                    with_kill):
    rng = random.Random(1414)
    in_order, shuffled = story_id(), story_id()
    sequence = slice(None) if with_kill else slice(0, 4)
    send(deployment, flash_to_kill(in_order)[sequence])
    versions = flash_to_kill(shuffled)[sequence]
    mixed = versions + rng.sample(versions, k=3)
    rng.shuffle(mixed)
    while not with_kill and mixed[0].version == 4:  # make the first version not the last
        rng.shuffle(mixed)
    send(deployment, mixed)
    expected_live = {} if with_kill else {W: 4, R: 4}
    wait_enriched(deployment.settings, in_order, len(versions))
    wait_enriched(deployment.settings, shuffled, len(mixed))
    reference = story_alerts(deployment.settings, in_order, until=0, settle=2)
    assert {t: version for t, (version, _, _) in final_state(reference).items()} \
        == expected_live
    got = story_alerts(deployment.settings, shuffled, until=0, settle=0)
    revisions(got)  # every redelivered revision the same publication
    assert final_state(got) == final_state(reference), [v.version for v in mixed]


# --- A worker killed mid-story ------------------------------------------------------------


@pytest.fixture
def own_deployment(broker: Settings, tmp_path: Path) -> Deployment:
    # A short session timeout: a restarted worker gets a killed one's partitions quickly.
    return deployment_for(uuid.uuid4().hex[:8], tmp_path, WIREWATCH_SESSION_TIMEOUT="10")


def test_a_worker_sigkilled_mid_story_resumes_with_the_story_state(own_deployment, workers,
                                                                   tmp_path):
    settings = own_deployment.settings
    story = story_id()
    versions = flash_to_kill(story)
    workers.append(start_worker(own_deployment, tmp_path / "first.log"))
    send(own_deployment, versions[:3])
    before = story_alerts(settings, story, until=5, settle=0)  # W r1-r3, R r1, IRAN r1
    assert revisions(before) == {t: [r for r in EXPECTED_IN_ORDER[t] if r[0] <= 3]
                                 for t in WATCHED}
    workers[0].process.send_signal(signal.SIGKILL)
    workers[0].process.wait()
    # The rest of the story, with an old version resent, while no worker runs.
    send(own_deployment, [versions[3], versions[1], versions[4]])
    workers.append(start_worker(own_deployment, tmp_path / "second.log"))
    alerts = story_alerts(settings, story, until=IN_ORDER_ALERTS, timeout=180)
    # Revisions go on from the table: without it the correction would be "new" again.
    assert revisions(alerts) == EXPECTED_IN_ORDER, workers[1].log_text()[-3000:]
    assert final_state(alerts) == {}


def test_a_worker_sigkilled_while_the_story_arrives_loses_and_repeats_nothing_wrongly(
        own_deployment, workers, tmp_path):
    settings = own_deployment.settings
    story = story_id()
    versions = flash_to_kill(story)
    workers.append(start_worker(own_deployment, tmp_path / "first.log"))
    send(own_deployment, versions)
    story_alerts(settings, story, until=1, settle=0, timeout=120)  # the first alert is out
    workers[0].process.send_signal(signal.SIGKILL)
    workers[0].process.wait()
    workers.append(start_worker(own_deployment, tmp_path / "second.log"))
    alerts = story_alerts(settings, story, until=IN_ORDER_ALERTS, timeout=180)
    # Redelivered versions give the same alert ids and revisions; none is skipped.
    assert revisions(alerts) == EXPECTED_IN_ORDER, workers[1].log_text()[-3000:]
    assert final_state(alerts) == {}


def test_a_story_moves_with_its_partition_to_another_worker(own_deployment, workers,
                                                            tmp_path):
    """Rebalances move a story's state with its partition: the first worker raises the
    story's first alerts, a second joins, the first leaves, and the second goes on with the
    revisions where the first stopped."""
    settings = own_deployment.settings
    story = story_id()
    versions = flash_to_kill(story)
    workers.append(start_worker(own_deployment, tmp_path / "first.log"))
    send(own_deployment, versions[:3])
    story_alerts(settings, story, until=5, settle=0)
    port = free_port()
    other = Deployment(env={**own_deployment.env, "WIREWATCH_WEB_PORT": str(port)},
                       settings=settings.model_copy(update={"web_port": port}))
    workers.append(start_worker(other, tmp_path / "second.log"))
    assert workers[0].stop() == 0, workers[0].log_text()[-3000:]
    send(own_deployment, versions[3:])
    alerts = story_alerts(settings, story, until=IN_ORDER_ALERTS, timeout=180)
    assert revisions(alerts) == EXPECTED_IN_ORDER, workers[1].log_text()[-3000:]
    assert "stories-changelog partition" in workers[1].log_text()
