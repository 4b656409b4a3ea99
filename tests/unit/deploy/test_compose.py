"""docker-compose.yml and monitoring/ agree with the repo and the settings.

No Docker engine runs here: these tests read the files compose, Prometheus and Grafana would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from streams.devbroker.broker import kafka_version
from streams.settings import Settings
from streams.worker.metrics import metric_names
from tests.helpers import ROOT

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
compose = yaml.safe_load(COMPOSE_TEXT)
services = compose["services"]
WORKERS = ("worker-1", "worker-2")

# What the worker exposes and the dashboard charts, besides `up`: all of wirewatch's metrics
# but the per-message processing time (the stage durations chart it) and the build info.
DASHBOARD_METRICS = (metric_names() - {"wirewatch_processing_seconds", "wirewatch_build_info"}
                     | {"up"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}


def _read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _bind_mounts(service: str) -> dict[str, Path]:
    """Container path -> host path (in the repo) of a service's bind mounts."""
    mounts = {}
    for volume in services[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        assert source.startswith("./"), (service, volume)
        mounts[target] = ROOT / source
    return mounts


def _host_path(service: str, container_path: str) -> Path:
    """Where a path inside a service's container comes from in the repo."""
    for target, source in _bind_mounts(service).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not mounted into {service}")


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery windows
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, is_call = match.groups()
        if not is_call and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def _base_metric(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in DASHBOARD_METRICS:
            return name.removesuffix(suffix)
    return name


def _all_panels(panels: list[dict]) -> list[dict]:
    flat = []
    for panel in panels:
        flat.append(panel)
        flat.extend(_all_panels(panel.get("panels", [])))
    return flat


prometheus_config = _read_yaml(_host_path("prometheus", "/etc/prometheus/prometheus.yml"))
dashboard_dir = _host_path("grafana", "/var/lib/grafana/dashboards")
dashboard = json.loads((dashboard_dir / "wirewatch.json").read_text(encoding="utf-8"))
panels = _all_panels(dashboard["panels"])


def test_services_have_healthchecks_and_wait_on_them():
    assert set(services) == {"kafka", *WORKERS, "prometheus", "grafana"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, name
            assert condition == {"condition": "service_healthy"}, name
    for name in (*WORKERS, "prometheus", "grafana"):
        assert services[name].get("depends_on"), name
    assert set(services["prometheus"]["depends_on"]) == set(WORKERS)
    assert set(services["grafana"]["depends_on"]) == {"prometheus"}


def test_every_mounted_host_path_exists_in_the_repo():
    for name in services:
        for target, source in _bind_mounts(name).items():
            assert source.exists(), f"{name}: {source.relative_to(ROOT)} (-> {target}) missing"


def test_header_comments_name_real_services():
    header = COMPOSE_TEXT.split("\nname:", 1)[0]
    commands = re.findall(r"docker compose run --rm (\S+) wirewatch (\w+)", header)
    assert ("worker-1", "replay") in commands
    for service, _ in commands:
        assert service in services


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
    assert dashboard_dir == ROOT / "monitoring" / "grafana" / "dashboards"


def test_grafana_datasource_is_the_compose_prometheus():
    provisioning = _host_path("grafana", "/etc/grafana/provisioning/datasources")
    [datasource] = [
        source
        for path in sorted(provisioning.glob("*.yml"))
        for source in _read_yaml(path)["datasources"]
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["isDefault"] is True
    [prometheus_port] = [p.split(":")[1] for p in services["prometheus"]["ports"]]
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"
    used = {panel["datasource"]["uid"] for panel in panels if "datasource" in panel}
    used |= {
        target["datasource"]["uid"]
        for panel in panels
        for target in panel.get("targets", [])
        if "datasource" in target
    }
    assert used == {datasource["uid"]}


def test_grafana_loads_the_dashboards_directory():
    provisioning = _host_path("grafana", "/etc/grafana/provisioning/dashboards")
    providers = [
        provider
        for path in sorted(provisioning.glob("*.yml"))
        for provider in _read_yaml(path)["providers"]
    ]
    assert [p["type"] for p in providers] == ["file"]
    assert _host_path("grafana", providers[0]["options"]["path"]) == dashboard_dir


def test_dashboard_charts_only_metrics_the_worker_exposes():
    assert dashboard["uid"] == "wirewatch" and dashboard["title"] == "wirewatch"
    assert dashboard["refresh"] == "10s"
    queried = [panel for panel in panels if panel.get("targets")]
    assert queried
    charted = set()
    for panel in queried:
        assert panel["type"] in {"timeseries", "stat", "bargauge", "barchart"}, panel["title"]
        for target in panel["targets"]:
            names = {_base_metric(name) for name in _metric_names(target["expr"])}
            assert names, (panel["title"], target["expr"])
            assert names <= DASHBOARD_METRICS, (panel["title"], names - DASHBOARD_METRICS)
            charted |= names
    assert charted == DASHBOARD_METRICS
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))


def test_metric_name_extraction():
    assert _metric_names(
        'histogram_quantile(0.95, sum by (stage, le) (rate(foo_bucket{job="x"}[1m])))'
    ) == {"foo_bucket"}
    assert _metric_names('sum(up{job="wirewatch"}) + on (job) bar offset 5m') == {"up", "bar"}


def test_the_image_builds_from_what_the_wheel_is_built_from():
    # `pip install .` in the image must see MANIFEST.in, or the data files do not ship.
    copied = set()
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            copied.update(line.split()[1:-1])
    assert {"pyproject.toml", "MANIFEST.in", "streams", "schemas", "seeds"} <= copied
