"""docker-compose.yml agrees with the repo and the settings (no Docker engine runs here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.localbroker import kafka_version
from streams.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
services = compose["services"]


def test_services_have_healthchecks_and_wait_on_them():
    assert set(services) == {"kafka", "worker", "prometheus"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        for dependency in service.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}, name


def test_kafka_is_the_official_image_of_the_version_the_local_broker_runs():
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_worker_reaches_kafka_on_its_internal_listener_and_serves_metrics_on_its_port():
    env = services["worker"]["environment"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"INTERNAL://{env['WIREWATCH_BOOTSTRAP_SERVERS']}" in advertised.split(",")
    settings = Settings()
    assert int(env["WIREWATCH_WEB_PORT"]) == settings.web_port
    assert int(env["WIREWATCH_TOPIC_PARTITIONS"]) == settings.topic_partitions
    assert f"{settings.web_port}:{settings.web_port}" in services["worker"]["ports"]
    assert services["worker"]["build"] == "." and (ROOT / "Dockerfile").exists()
    # the host listener is the default bootstrap server of the CLI
    assert f"{settings.broker_port}:9092" in services["kafka"]["ports"]


def test_prometheus_scrapes_the_worker_with_the_mounted_config():
    mounts = [volume.split(":") for volume in services["prometheus"]["volumes"]]
    [(source, target, _)] = [m for m in mounts if m[1].endswith("prometheus.yml")]
    config = yaml.safe_load((ROOT / source).read_text(encoding="utf-8"))
    assert f"--config.file={target}" in services["prometheus"]["command"]
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"worker:{Settings().web_port}"]
