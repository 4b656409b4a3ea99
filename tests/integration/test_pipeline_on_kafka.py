"""The pipeline end to end on the real broker: replay -> worker -> enriched, alerts, DLQ."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request

from schemas import Alert, EnrichedDispatch, alert_id_for
from streams.nlp.rules import watched_topics
from streams.worker.processing import HEADER_OFFSET, HEADER_PARTITION, HEADER_REASON, HEADER_TOPIC
from tests.helpers.accounting import produce
from tests.helpers.dead_letters import text_headers
from tests.helpers.deployment import consume

SEED_ID = "702952208b099811"
WATCHED = watched_topics()


def test_seed_replay_gives_one_alert_on_each_watched_topic(deployment, worker):
    result = deployment.run("replay")
    assert result.returncode == 0, result.stderr.decode()
    assert "replayed 1 dispatch(es)" in result.stderr.decode()

    settings = deployment.settings
    alert_topics = [settings.alert_topic(topic) for topic in WATCHED]
    records = consume(settings, alert_topics, until=3)
    alerts = {record.topic: Alert.model_validate_json(record.value) for record in records}
    assert sorted(r.topic for r in records) == sorted(alert_topics), "one alert per topic"
    for topic in WATCHED:
        alert = alerts[settings.alert_topic(topic)]
        assert alert.dispatch_id == SEED_ID and alert.topic == topic
        assert alert.alert_id == alert_id_for(SEED_ID, topic)
        assert alert.evidence
        assert (alert.revision, alert.status) == (1, "new")
    # Keyed by alert id: the compacted alert topics keep the latest revision of each alert.
    assert all(r.key == Alert.model_validate_json(r.value).alert_id.encode() for r in records)

    [enriched_record] = consume(settings, [settings.topic_enriched], until=1)
    enriched = EnrichedDispatch.model_validate_json(enriched_record.value)
    entities = {(e.text, e.label) for e in enriched.entities}
    assert {("Antony Blinken", "PER"), ("Otan", "ORG"), ("Afghanistan", "LOC")} <= entities


def test_malformed_message_is_dead_lettered_and_the_next_dispatch_still_processed(
        deployment, worker):
    good = json.dumps({"id": "after-bad", "language": "fr",
                       "body": "Le festival de Cannes s'ouvre mardi sous le soleil."}).encode()
    [(bad_partition, bad_offset), _] = produce(deployment.settings, [(b"bad-1", b"{malformed"),
                                                            (b"after-bad", good)])
    settings = deployment.settings
    [dead] = consume(settings, [settings.topic_dead_letter], until=1)
    headers = text_headers(dead.headers)
    assert (dead.key, dead.value) == (b"bad-1", b"{malformed")
    assert headers[HEADER_TOPIC] == settings.topic_dispatches
    assert (headers[HEADER_PARTITION], headers[HEADER_OFFSET]) == (str(bad_partition),
                                                                   str(bad_offset))
    assert headers[HEADER_REASON] == "invalid_json"

    enriched_ids = {r.key for r in consume(settings, [settings.topic_enriched], until=2)}
    assert b"after-bad" in enriched_ids
    assert worker.process.poll() is None, "the worker keeps running"


def test_metrics_count_what_the_worker_did(deployment, worker):
    # runs after the two tests above in this module: 3 messages in, 1 dead-lettered
    url = f"http://127.0.0.1:{deployment.settings.web_port}/metrics"
    consume(deployment.settings, [deployment.settings.topic_enriched], until=2, settle=0)
    with urllib.request.urlopen(url, timeout=5) as response:
        page = response.read().decode()

    def value(pattern: str) -> float:
        found = re.search(rf"^{pattern} ([0-9.e+]+)$", page, re.MULTILINE)
        assert found, f"{pattern} not in /metrics"
        return float(found.group(1))

    assert value("wirewatch_dispatches_consumed_total") == 3
    assert value("wirewatch_dispatches_enriched_total") == 2
    assert value('wirewatch_dead_letters_total{reason="invalid_json"}') == 1
    for topic in WATCHED:
        assert value(f'wirewatch_alerts_published_total{{status="new",topic="{topic}"}}') == 1
    assert value("wirewatch_processing_seconds_count") == 3
    assert "faust_" in page  # Faust's own sensors are served too


def test_subscribe_prints_alerts_as_json_lines(deployment, worker):
    result = deployment.run("subscribe", "withdrawal", "--from-beginning", "--json",
                            "--max", "1", "--timeout", "60")
    assert result.returncode == 0, result.stderr.decode()
    [line] = result.stdout.decode().splitlines()
    envelope = json.loads(line)
    assert envelope["topic"] == deployment.settings.alert_topic("withdrawal")
    assert envelope["key"] == alert_id_for(SEED_ID, "withdrawal")
    alert = Alert.model_validate(envelope["payload"])
    assert (alert.topic, alert.dispatch_id) == ("withdrawal", SEED_ID)


def test_subscribe_readable_output_says_why(deployment, worker):
    result = deployment.run("subscribe", "iran-deal", "--from-beginning", "--max", "1",
                            "--timeout", "60")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert out.startswith("[iran-deal ")
    [why] = [line for line in out.splitlines() if line.strip().startswith("why:")]
    assert "«accord nucléaire" in why and "Bruxelles, Belgique" in out


def test_any_kafka_client_reads_alerts_as_json(deployment, worker):
    # kcat, from Debian's packages (`make test` installs it): no wirewatch code involved.
    topic = deployment.settings.alert_topic("withdrawal")
    consume(deployment.settings, [topic], until=1, settle=0)
    result = subprocess.run(
        ["kcat", "-C", "-b", deployment.settings.bootstrap_servers, "-t", topic, "-e", "-q"],
        capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    [line] = result.stdout.decode().splitlines()
    assert json.loads(line)["alert_id"] == alert_id_for(SEED_ID, "withdrawal")


def test_subscribe_filters_by_entity_wikidata_id(deployment, worker):
    """An alert lists its dispatch's most salient entities, an enriched dispatch all of
    them: the seed names NATO (Q7184) first, and other linked entities further down."""
    def printed(*args: str) -> list[dict]:
        result = deployment.run("subscribe", *args, "-o", "beginning", "-e", "--value-only",
                                "--timeout", "60")
        assert result.returncode == 0, result.stderr.decode()
        return [json.loads(line) for line in result.stdout.decode().splitlines()]

    nato = printed("--entity", "Q7184")
    assert sorted(a["topic"] for a in nato if a["dispatch_id"] == SEED_ID) == sorted(WATCHED)
    assert all("Q7184" in {e["wikidata_id"] for e in a["entities"]} for a in nato)
    enriched_topic = deployment.settings.topic_enriched
    [seed] = [d for d in printed(enriched_topic) if d["id"] == SEED_ID]
    shown = deployment.settings.top_entities_in_alert
    further = next(e["wikidata_id"] for e in seed["entity_summary"][shown:] if e["wikidata_id"])
    assert [a for a in printed("--entity", further) if a["dispatch_id"] == SEED_ID] == []
    def ids(alerts: list[dict]) -> list[str]:
        return sorted(a["alert_id"] for a in alerts)

    assert ids(printed("--entity", further, "--entity", "Q7184")) == ids(nato)
    [enriched] = printed(enriched_topic, "--entity", further.lower())  # either case
    assert enriched["id"] == SEED_ID
    refused = deployment.run("subscribe", "--entity", "Biden")
    assert refused.returncode == 2
    assert "'Biden' is not a Wikidata item id" in refused.stderr.decode()
