"""The Alertmanager of docker-compose.yml: a valid configuration that routes every alert rule.

amtool comes with Debian's `prometheus-alertmanager` package, which `make test` installs.
Without it these tests fail rather than skip, like the promtool ones.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

CONFIG = ROOT / "monitoring" / "alertmanager.yml"
RULES = ROOT / "monitoring" / "alerts.yml"
config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
rules = [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
         for rule in group["rules"] if "alert" in rule]
MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*')


def rule_labels(rule: dict[str, Any]) -> dict[str, str]:
    """The labels an alert of this rule carries, besides those of the series it fired on."""
    return {"alertname": rule["alert"], **rule.get("labels", {})}


def matches(matcher: str, labels: dict[str, str]) -> bool:
    """Alertmanager's matcher syntax (name, =, !=, =~ or !~, value) on a set of labels."""
    parsed = MATCHER.fullmatch(matcher)
    assert parsed, f"not a matcher: {matcher!r}"
    name, op, quoted, bare = parsed.groups()
    expected = quoted if quoted is not None else bare
    value = labels.get(name, "")
    if op in {"=", "!="}:
        return (value == expected) == (op == "=")
    return bool(re.fullmatch(expected, value)) == (op == "=~")


def route(labels: dict[str, str], node: dict[str, Any] | None = None,
          receiver: str | None = None, depth: int = 0) -> tuple[str, int]:
    """The receiver Alertmanager picks for these labels, and how deep in the tree it was found.

    The first matching child route wins (none of ours uses `continue`); a route without a
    receiver inherits its parent's.
    """
    node = config["route"] if node is None else node
    receiver = node.get("receiver", receiver)
    for child in node.get("routes", []):
        assert not child.get("continue"), "route() does not follow `continue`"
        if all(matches(m, labels) for m in child.get("matchers", [])):
            return route(labels, child, receiver, depth + 1)
    assert receiver is not None
    return receiver, depth


def require_amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail(
            f"amtool is not on PATH: it is needed to check {CONFIG.relative_to(ROOT)}. Install "
            "Debian's `prometheus-alertmanager` package (`apt-get install "
            "--no-install-recommends prometheus-alertmanager`), or run `make test`, which "
            "installs it.",
            pytrace=False,
        )
    return path


def run_amtool(*args: str) -> str:
    result = subprocess.run([require_amtool(), *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, (
        f"`amtool {' '.join(args)}` exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
    return result.stdout


def test_config_is_valid() -> None:
    run_amtool("check-config", str(CONFIG))


def test_matcher_semantics() -> None:
    labels = {"alertname": "WirewatchWorkerDown", "severity": "critical"}
    assert matches('severity="critical"', labels)
    assert matches("severity=critical", labels)
    assert not matches('severity!="critical"', labels)
    assert matches('alertname=~"WirewatchWorker.*"', labels)
    assert not matches('alertname=~"Worker"', labels)  # anchored, as in Alertmanager
    assert matches('team!~".+"', labels)  # a missing label is the empty string


@pytest.mark.parametrize("rule", rules, ids=lambda rule: rule["alert"])
def test_every_alert_reaches_a_receiver_by_its_own_route(rule: dict[str, Any]) -> None:
    receiver, depth = route(rule_labels(rule))
    assert receiver in {r["name"] for r in config["receivers"]}
    # Not just the catch-all: a route says where this severity goes.
    assert depth > 0, f"{rule['alert']} only falls through to the default route"


@pytest.mark.parametrize("rule", rules, ids=lambda rule: rule["alert"])
def test_amtool_routes_each_alert_the_same_way(rule: dict[str, Any]) -> None:
    labels = [f"{name}={value}" for name, value in rule_labels(rule).items()]
    found = run_amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert found.strip() == route(rule_labels(rule))[0]


def test_severities_go_to_different_receivers() -> None:
    by_severity = {rule["labels"]["severity"]: route(rule_labels(rule))[0] for rule in rules}
    assert set(by_severity) == {"critical", "warning"}
    assert by_severity["critical"] != by_severity["warning"]


def test_every_receiver_is_routed_to() -> None:
    def receivers(node: dict[str, Any]) -> set[str]:
        found = {node["receiver"]} if "receiver" in node else set()
        for child in node.get("routes", []):
            found |= receivers(child)
        return found

    names = [r["name"] for r in config["receivers"]]
    assert len(names) == len(set(names))
    assert receivers(config["route"]) == set(names)


def test_inhibit_rules_name_real_alerts_and_never_their_own_source() -> None:
    alerts = {rule["alert"]: rule_labels(rule) for rule in rules}
    assert config["inhibit_rules"]
    for inhibit in config["inhibit_rules"]:
        sources = {name for name, labels in alerts.items()
                   if all(matches(m, labels) for m in inhibit["source_matchers"])}
        targets = {name for name, labels in alerts.items()
                   if all(matches(m, labels) for m in inhibit["target_matchers"])}
        assert sources and targets, inhibit
        assert not sources & targets, inhibit
        # Names listed in an alternation are all real: a renamed alert fails here.
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            name, op, quoted, bare = MATCHER.fullmatch(matcher).groups()
            if name == "alertname" and op == "=~":
                assert set((quoted or bare).split("|")) <= set(alerts), matcher
        # Critical alerts silence warnings, never the other way round.
        assert {alerts[name]["severity"] for name in sources} == {"critical"}
        assert {alerts[name]["severity"] for name in targets} == {"warning"}
