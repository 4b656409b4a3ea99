"""docker-compose.yml and monitoring/ agree with the repo and the settings.

No Docker engine runs here: these tests read the files compose, Prometheus, Alertmanager and
Grafana would. The dashboard's own structure is test_dashboard.py's, the routing of the alerts
test_alertmanager.py's.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import yaml

from streams.devbroker.broker import kafka_version
from streams.settings import Settings
from tests.helpers import ROOT

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
compose = yaml.safe_load(COMPOSE_TEXT)
services = compose["services"]
volumes = compose.get("volumes") or {}
WORKERS = ("worker-1", "worker-2")
# Where each service keeps what must outlive its container, and the volume that holds it.
DATA_VOLUMES = {
    "kafka": ("kafka-data", "/var/lib/kafka/data"),
    "prometheus": ("prometheus-data", "/prometheus"),
    "alertmanager": ("alertmanager-data", "/alertmanager"),
    "grafana": ("grafana-data", "/var/lib/grafana"),
}


def _read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _mounts(service: str) -> list[tuple[str, str]]:
    """(source, container path) of a service's mounts: `./path` in the repo, or a volume."""
    mounts = []
    for volume in services[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        assert source.startswith("./") or source in volumes, (service, volume)
        mounts.append((source, target))
    return mounts


def _bind_mounts(service: str) -> dict[str, Path]:
    """Container path -> host path (in the repo) of a service's bind mounts."""
    return {target: ROOT / source for source, target in _mounts(service)
            if source.startswith("./")}


def _volume_mounts(service: str) -> dict[str, str]:
    """Container path -> named volume of a service's volume mounts."""
    return {target: source for source, target in _mounts(service)
            if not source.startswith("./")}


def _published_ports() -> dict[int, str]:
    """Host port -> the service that publishes it."""
    published: dict[int, str] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host_port = int(port.split(":")[-2])
            assert host_port not in published, (port, name, published.get(host_port))
            published[host_port] = name
    return published


def _host_path(service: str, container_path: str) -> Path:
    """Where a path inside a service's container comes from in the repo."""
    for target, source in _bind_mounts(service).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not mounted into {service}")


prometheus_config = _read_yaml(_host_path("prometheus", "/etc/prometheus/prometheus.yml"))


def test_services_have_healthchecks_and_wait_on_them():
    assert set(services) == {"kafka", *WORKERS, "prometheus", "alertmanager", "grafana"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, name
            assert condition == {"condition": "service_healthy"}, name
    for name in (*WORKERS, "prometheus", "grafana"):
        assert services[name].get("depends_on"), name
    assert set(services["prometheus"]["depends_on"]) == {*WORKERS, "alertmanager"}
    assert set(services["grafana"]["depends_on"]) == {"prometheus"}


def test_services_come_back_after_a_crash_or_a_reboot_unless_stopped():
    # `docker compose run --rm` drops the policy for its one-off containers.
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
    assert compose["x-worker"]["restart"] == "unless-stopped"


def test_data_lives_in_named_volumes_that_down_and_up_keep():
    assert set(volumes) == {volume for volume, _ in DATA_VOLUMES.values()}
    for volume, options in volumes.items():
        assert not (options or {}).get("external"), volume  # compose creates them
    mounted = {name: _volume_mounts(name) for name in services}
    for name, (volume, path) in DATA_VOLUMES.items():
        assert mounted.pop(name) == {path: volume}, name
    assert not any(mounted.values()), mounted  # the workers keep nothing: Kafka has it
    # No bind mount beneath a data volume, where it would end up inside the volume.
    for name, (_, path) in DATA_VOLUMES.items():
        for target in _bind_mounts(name):
            assert not target.startswith(path.rstrip("/") + "/"), (name, target)


def test_each_service_writes_its_data_where_its_volume_is():
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_LOG_DIRS"] == DATA_VOLUMES["kafka"][1]
    assert f"--storage.tsdb.path={DATA_VOLUMES['prometheus'][1]}" in (
        services["prometheus"]["command"])
    assert f"--storage.path={DATA_VOLUMES['alertmanager'][1]}" in (
        services["alertmanager"]["command"])
    # Grafana's data path is its image's default, /var/lib/grafana.
    assert not any(key.startswith("GF_PATHS_") for key in services["grafana"]["environment"])


def test_kafka_keeps_one_cluster_id_for_its_formatted_log():
    # A log formatted under one id refuses a broker started with another: the id is fixed
    # here rather than left to the image's default, and is a Kafka UUID (16 bytes, base64url).
    cluster_id = services["kafka"]["environment"]["CLUSTER_ID"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), cluster_id
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_every_mounted_host_path_exists_in_the_repo():
    for name in services:
        for target, source in _bind_mounts(name).items():
            assert source.exists(), f"{name}: {source.relative_to(ROOT)} (-> {target}) missing"


def test_header_comments_name_real_services_and_every_published_port():
    header = COMPOSE_TEXT.split("\nname:", 1)[0]
    commands = re.findall(r"docker compose run --rm (\S+) wirewatch (\w+)", header)
    assert ("worker-1", "replay") in commands
    for service, _ in commands:
        assert service in services
    listed = {int(port) for port in re.findall(r"localhost:(\d+)", header)}
    assert listed == set(_published_ports())


def test_no_two_services_publish_the_same_host_port():
    published = _published_ports()  # asserts while it collects
    # Kafka's controller listener uses 9093 inside its container only: not published.
    assert published[9093] == "alertmanager"


def test_kafka_is_the_official_image_of_the_version_the_local_broker_runs():
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert int(env["KAFKA_NUM_PARTITIONS"]) == Settings().topic_partitions


def test_workers_reach_kafka_on_its_internal_listener_and_serve_metrics_on_their_port():
    settings = Settings()
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    host_ports = []
    for name in WORKERS:
        worker = services[name]
        env = worker["environment"]
        assert f"INTERNAL://{env['WIREWATCH_BOOTSTRAP_SERVERS']}" in advertised.split(",")
        assert int(env["WIREWATCH_WEB_PORT"]) == settings.web_port
        assert int(env["WIREWATCH_TOPIC_PARTITIONS"]) == settings.topic_partitions
        assert worker["build"] == "." and (ROOT / "Dockerfile").exists()
        [port] = worker["ports"]
        host_port, container_port = port.split(":")
        assert int(container_port) == settings.web_port
        host_ports.append(int(host_port))
        assert f":{settings.web_port}/metrics" in " ".join(worker["healthcheck"]["test"])
    assert host_ports == [settings.web_port, settings.web_port + 1]
    # the host listener is the default bootstrap server of the CLI
    assert f"{settings.broker_port}:9092" in services["kafka"]["ports"]


def test_worker_replicas_form_one_consumer_group():
    """Same image, same environment, same app id: Kafka splits the partitions between them."""
    first, *others = (services[name] for name in WORKERS)
    for other in others:
        for key in ("build", "environment", "depends_on", "healthcheck"):
            assert other[key] == first[key], key
    app_ids = {
        services[name]["environment"].get("WIREWATCH_APP_ID", Settings().app_id) for name in WORKERS
    }
    assert len(app_ids) == 1
    # one definition shared through the x-worker extension field, not two copies
    assert "x-worker" in compose
    assert compose["x-worker"]["environment"] == first["environment"]


def test_prometheus_scrapes_every_worker_with_the_mounted_config():
    target = "/etc/prometheus/prometheus.yml"
    assert f"--config.file={target}" in services["prometheus"]["command"]
    [job] = prometheus_config["scrape_configs"]
    assert job["job_name"] == "wirewatch"
    assert job["metrics_path"] == "/metrics"
    assert job["scrape_interval"] == "5s"
    targets = [t for config in job["static_configs"] for t in config["targets"]]
    port = Settings().web_port
    workers = sorted(name for name, service in services.items() if service.get("build") == ".")
    assert workers == list(WORKERS)
    assert sorted(targets) == [f"{name}:{port}" for name in workers]


def test_prometheus_loads_the_mounted_alert_rules():
    rule_files = prometheus_config["rule_files"]
    assert rule_files == ["/etc/prometheus/alerts.yml"]
    for rule_file in rule_files:
        assert _host_path("prometheus", rule_file) == ROOT / "monitoring" / "alerts.yml"


def test_prometheus_sends_its_alerts_to_the_compose_alertmanager():
    [alertmanagers] = prometheus_config["alerting"]["alertmanagers"]
    targets = [t for config in alertmanagers["static_configs"] for t in config["targets"]]
    [port] = services["alertmanager"]["ports"]
    assert targets == [f"alertmanager:{port.split(':')[-1]}"]
    assert services["prometheus"]["depends_on"]["alertmanager"] == {
        "condition": "service_healthy"}


def test_alertmanager_is_pinned_and_configured_from_the_repo():
    alertmanager = services["alertmanager"]
    image, _, version = alertmanager["image"].partition(":")
    assert image == "prom/alertmanager"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", version), alertmanager["image"]
    assert "9093:9093" in alertmanager["ports"]
    target = "/etc/alertmanager/alertmanager.yml"
    assert f"--config.file={target}" in alertmanager["command"]
    assert _host_path("alertmanager", target) == ROOT / "monitoring" / "alertmanager.yml"
    assert ":9093/-/ready" in " ".join(alertmanager["healthcheck"]["test"])


def test_grafana_is_pinned_and_provisioned_from_the_repo():
    grafana = services["grafana"]
    image, _, version = grafana["image"].partition(":")
    assert image == "grafana/grafana-oss"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), grafana["image"]
    assert "3000:3000" in grafana["ports"]
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert _host_path("grafana", "/etc/grafana/provisioning") == (
        ROOT / "monitoring" / "grafana" / "provisioning"
    )


def test_grafana_datasource_is_the_compose_prometheus_and_the_default():
    provisioning = _host_path("grafana", "/etc/grafana/provisioning/datasources")
    [datasource] = [
        source
        for path in sorted(provisioning.glob("*.yml"))
        for source in _read_yaml(path)["datasources"]
    ]
    assert datasource["type"] == "prometheus"
    # The dashboard names no uid: its datasource variable starts on the default datasource.
    assert datasource["isDefault"] is True
    [prometheus_port] = [p.split(":")[1] for p in services["prometheus"]["ports"]]
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"


def test_grafana_loads_the_dashboards_directory_and_opens_on_wirewatch():
    provisioning = _host_path("grafana", "/etc/grafana/provisioning/dashboards")
    providers = [
        provider
        for path in sorted(provisioning.glob("*.yml"))
        for provider in _read_yaml(path)["providers"]
    ]
    assert [p["type"] for p in providers] == ["file"]
    dashboard_dir = _host_path("grafana", providers[0]["options"]["path"])
    assert dashboard_dir == ROOT / "monitoring" / "grafana" / "dashboards"
    assert (dashboard_dir / "wirewatch.json").exists()
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert _host_path("grafana", home) == dashboard_dir / "wirewatch.json"


def test_the_image_builds_from_what_the_wheel_is_built_from():
    # `pip install .` in the image must see MANIFEST.in, or the data files do not ship.
    copied = set()
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            copied.update(line.split()[1:-1])
    assert {"pyproject.toml", "MANIFEST.in", "streams", "schemas", "seeds"} <= copied
