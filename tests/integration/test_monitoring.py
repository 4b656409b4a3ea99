"""Monitoring through a real Prometheus server that scrapes a real worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import Alert
from tests.helpers.accounting import produce
from tests.helpers.deployment import (
    Deployment,
    WorkerProcess,
    consume,
    deployment_for,
    free_port,
    start_worker,
)

ROOT = Path(__file__).resolve().parent.parent.parent
FEED_SIZE = 40


class Prometheus:
    """A Prometheus server on loopback, scraping one worker every second."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def query(self, promql: str) -> list[dict]:
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(address, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def by_label(self, promql: str, label: str) -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(promql)}

    def wait_for(self, promql: str, expected: object, *, label: str | None = None,
                 timeout: float = 60) -> object:
        """Poll until the query gives `expected` (scrapes come every second)."""
        deadline = time.monotonic() + timeout
        found: object = None
        while time.monotonic() < deadline:
            found = self.by_label(promql, label) if label else self.value(promql)
            if found == expected:
                return found
            time.sleep(0.5)
        raise AssertionError(f"{promql}: {found!r} after {timeout}s, expected {expected!r}")


@pytest.fixture(scope="module")
def monitored(broker, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Deployment, WorkerProcess, Prometheus]]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: `make test` installs Debian's prometheus "
                    "package")
    tmp = tmp_path_factory.mktemp("monitoring")
    deployment = deployment_for(uuid.uuid4().hex[:8], tmp)
    worker = start_worker(deployment, tmp / "worker.log")
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{ROOT / 'monitoring' / 'alerts.yml'}']\n"
        "scrape_configs:\n  - job_name: wirewatch\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{deployment.settings.web_port}']\n", encoding="utf-8")
    log = tmp / "prometheus.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"prometheus did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield deployment, worker, prometheus
    finally:
        process.terminate()
        process.wait(30)
        worker.stop()


def test_prometheus_sees_what_the_worker_published(monitored, tmp_path):
    deployment, _worker, prometheus = monitored
    settings = deployment.settings
    # A feed of real dispatches, and two that must be dead-lettered.
    lines = (ROOT / "tests" / "data" / "topics" / "team-dev.jsonl").read_text(encoding="utf-8")
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(lines.splitlines(keepends=True)[:FEED_SIZE]), encoding="utf-8")
    result = deployment.run("replay", str(feed))
    assert result.returncode == 0, result.stderr.decode()
    produce(deployment.settings, [(b"bad-1", b"{not json"), (b"bad-2", b"[1, 2]")])

    done = consume(settings, [settings.topic_enriched, settings.topic_dead_letter],
                   until=FEED_SIZE + 2, timeout=180)
    assert len(done) == FEED_SIZE + 2
    alert_topics = [settings.alert_topic(t) for t in ("withdrawal", "russia-ukraine",
                                                      "iran-deal")]
    alerts = [Alert.model_validate_json(r.value)
              for r in consume(settings, alert_topics, until=1, timeout=10, settle=3)]
    on_kafka = Counter(alert.topic for alert in alerts)
    assert sum(on_kafka.values()) > 10  # the feed is about the watched topics

    # Counters: Prometheus says what Kafka holds.
    prometheus.wait_for('sum by (topic) (wirewatch_alerts_published_total{job="wirewatch"})',
                        {t: float(on_kafka.get(t, 0)) for t in ("withdrawal", "russia-ukraine",
                                                                 "iran-deal")},
                        label="topic")
    prometheus.wait_for("sum(wirewatch_dispatches_consumed_total)", float(FEED_SIZE + 2))
    prometheus.wait_for("sum(wirewatch_dispatches_enriched_total)", float(FEED_SIZE))
    prometheus.wait_for('sum by (reason) (wirewatch_dead_letters_total) > 0',
                        {"invalid_json": 1.0, "invalid_dispatch": 1.0}, label="reason")
    # Histograms moved: one end-to-end observation per alert, one per stage per dispatch.
    prometheus.wait_for("sum(wirewatch_end_to_end_latency_seconds_count)",
                        float(sum(on_kafka.values())))
    prometheus.wait_for('wirewatch_stage_duration_seconds_count{stage="classify"}',
                        float(FEED_SIZE))
    prometheus.wait_for("sum(wirewatch_alert_score_count)", float(sum(on_kafka.values())))
    assert (prometheus.value("histogram_quantile(0.5, sum by (le) "
                             "(wirewatch_end_to_end_latency_seconds_bucket))") or 0) > 0
    # Freshness: every input partition reported, nothing left to process.
    prometheus.wait_for("count(wirewatch_consumer_lag_messages)",
                        float(settings.topic_partitions))
    prometheus.wait_for("sum(wirewatch_consumer_lag_messages)", 0.0)
    assert prometheus.value("max(wirewatch_seconds_since_last_processed)") is not None
    # Model and rules versions, and Faust's own sensors.
    [info] = prometheus.query("wirewatch_build_info")
    assert info["metric"]["spacy_model"] == settings.spacy_model
    assert "withdrawal=" in info["metric"]["rules_versions"]
    assert prometheus.query('{__name__=~"faust_.+"}')
    # The alerting rules load, and none fires on a healthy worker.
    assert not [a for a in prometheus.query("ALERTS") if a["metric"]["alertstate"] == "firing"]
