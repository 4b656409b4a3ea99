"""The Grafana dashboard drops into any Grafana: no datasource uid, job and instance chosen.

File provisioning does not substitute `${DS_...}` inputs (only the import dialog does), so the
panels use a `datasource` variable instead, which starts on the default Prometheus; the
`__inputs` and `__requires` are there for the import dialog, as Grafana's own export writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from streams.worker.metrics import metric_names
from tests.helpers import ROOT

DASHBOARD_FILE = ROOT / "monitoring" / "grafana" / "dashboards" / "wirewatch.json"
dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# What every metric selector must carry, so that the variables choose what is charted.
FILTERS = {"job": ("=~", "$job"), "instance": ("=~", "$instance")}

# What the worker exposes and the dashboard charts, besides `up`: all of wirewatch's metrics
# but the per-message processing time (the stage durations chart it) and the build info.
DASHBOARD_METRICS = (metric_names() - {"wirewatch_processing_seconds", "wirewatch_build_info"}
                     | {"up"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
WINDOW = re.compile(r"\[[^\]]*\]")  # range and subquery windows
STRING = r'"(?:[^"\\]|\\.)*"'
TOKEN = re.compile(
    rf"{STRING}"  # a string literal outside a selector: skipped
    r"|(?<![\w.])(?P<name>[A-Za-z_:][\w:]*)\s*(?P<call>\()?"
    rf"(?P<matchers>\{{(?:[^}}\"]|{STRING})*\}})?"
)
MATCHER = re.compile(rf"([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*({STRING})")


def _selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """The metric selectors of a PromQL expression: name and label matchers {label: (op, value)}.

    Functions, aggregations, keywords, grouping labels and windows are left out.
    """
    text = WINDOW.sub("", GROUPING.sub("", expr))
    found = []
    for match in TOKEN.finditer(text):
        name, call, matchers = match.group("name", "call", "matchers")
        if name is None or call or name.lower() in PROMQL_KEYWORDS:
            continue
        found.append((name, {label: (op, json.loads(value))
                             for label, op, value in MATCHER.findall(matchers or "")}))
    return found


def _metric_names(expr: str) -> set[str]:
    return {name for name, _ in _selectors(expr)}


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


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) of a JSON document, containers included."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


panels = _all_panels(dashboard["panels"])
targets = [(panel["title"], target) for panel in panels for target in panel.get("targets", [])]
variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}


def test_the_dashboard_is_identified_and_refreshes():
    assert dashboard["uid"] == "wirewatch" and dashboard["title"] == "wirewatch"
    assert dashboard["refresh"] == "10s"


def test_no_datasource_uid_but_the_variable():
    refs = {path: node["datasource"] for path, node in _walk(dashboard)
            if isinstance(node, dict) and "datasource" in node}
    assert refs, "no panel names its datasource"
    assert {path: ref for path, ref in refs.items() if ref != DATASOURCE} == {}
    for panel in panels:
        if panel["type"] != "row":
            assert panel.get("datasource") == DATASOURCE, panel["title"]
    assert targets
    for title, target in targets:
        assert target.get("datasource") == DATASOURCE, title
    # The dashboard's own uid aside, every uid is one of those datasource references.
    uids = {path for path, node in _walk(dashboard)
            if isinstance(node, dict) and "uid" in node and path}
    assert uids == {f"{path}.datasource" for path in refs}


def test_nothing_refers_to_an_import_input():
    # File provisioning leaves `${DS_PROMETHEUS}` as it is: a panel naming it finds nothing.
    inputs = [f"${{{i['name']}}}" for i in dashboard["__inputs"]]
    inputs += [f"${i['name']}" for i in dashboard["__inputs"]]
    for path, node in _walk(dashboard):
        if isinstance(node, str):
            assert not any(name in node for name in inputs), path


def test_import_inputs_and_requirements_are_declared():
    assert dashboard["__inputs"] == [{
        "name": "DS_PROMETHEUS",
        "label": "Prometheus",
        "description": dashboard["__inputs"][0]["description"],
        "type": "datasource",
        "pluginId": "prometheus",
        "pluginName": "Prometheus",
    }]
    requires = {(r["type"], r["id"]) for r in dashboard["__requires"]}
    panel_types = {panel["type"] for panel in panels if panel["type"] != "row"}
    assert requires == {("grafana", "grafana"), ("datasource", "prometheus"),
                        *(("panel", kind) for kind in panel_types)}
    [grafana] = [r for r in dashboard["__requires"] if r["type"] == "grafana"]
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert f"grafana/grafana-oss:{grafana['version']}\n" in compose


def test_datasource_variable_picks_a_prometheus_starting_on_the_default():
    assert list(variables) == ["datasource", "job", "instance"]  # each depends on the former
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"  # the plugin id: any Prometheus, by any name
    assert not datasource.get("regex")
    assert not datasource.get("multi") and not datasource.get("includeAll")
    # Grafana adds its `default` option, the org's default datasource, only for this value.
    assert datasource["current"] == {"text": "default", "value": "default"}


@pytest.mark.parametrize(("name", "query"), [
    ("job", "label_values(wirewatch_build_info, job)"),
    ("instance", 'label_values(up{job=~"$job"}, instance)'),
])
def test_job_and_instance_variables_query_the_chosen_datasource(name: str, query: str):
    variable = variables[name]
    assert variable["type"] == "query"
    assert variable["datasource"] == DATASOURCE
    assert variable["query"]["query"] == variable["definition"] == query
    assert variable["multi"] is True and variable["includeAll"] is True
    assert "allValue" not in variable  # All is the list of values, not every job in the shop
    assert variable["current"] == {"text": ["All"], "value": ["$__all"]}
    assert variable["refresh"] == 2  # on time range change: workers come and go
    selector, label = re.fullmatch(r"label_values\((.+), (\w+)\)", query).groups()
    assert label == name
    [(metric, matchers)] = _selectors(selector)
    # Jobs are those whose targets are wirewatch workers; instances, the targets of those jobs
    # (scraped or not: `up` keeps the ones that are down).
    assert metric in metric_names() | {"up"}
    if name == "instance":
        assert matchers == {"job": FILTERS["job"]}


def test_every_metric_selector_is_filtered_by_job_and_instance():
    for title, target in targets:
        selectors = _selectors(target["expr"])
        assert selectors, (title, target["expr"])
        for metric, matchers in selectors:
            assert matchers == FILTERS, (title, metric, target["expr"])


def test_dashboard_charts_only_metrics_the_worker_exposes():
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
    assert _metric_names('label_replace(foo, "dst", "$1", "src", "(.*)")') == {"foo"}


def test_selector_matchers():
    assert _selectors('sum by (le) (rate(a_bucket{job=~"$job", instance!="x,y"}[5m])) > 0') == [
        ("a_bucket", {"job": ("=~", "$job"), "instance": ("!=", "x,y")})
    ]
    assert _selectors('a{le="+Inf"} / b') == [("a", {"le": ("=", "+Inf")}), ("b", {})]
