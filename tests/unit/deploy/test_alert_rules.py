"""The Prometheus alerting rules: promtool validates them, and the configuration of
docker-compose.yml's Prometheus that loads them, and runs their unit tests.

promtool comes with Debian's `prometheus` package, which `make test` installs. Without it
these tests fail rather than skip, so that untested alerting rules never pass silently.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

REPO_ROOT = ROOT
RULES = Path("monitoring/alerts.yml")
RULE_TESTS = Path("monitoring/alerts_test.yml")
PROMETHEUS_CONFIG = Path("monitoring/prometheus.yml")


def require_promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not on PATH: it is needed to check and unit-test "
            f"{RULES}. Install Debian's `prometheus` package "
            "(`apt-get install --no-install-recommends prometheus`), or run `make test`, "
            "which installs it.",
            pytrace=False,
        )
    return path


def run_promtool(*args: str) -> None:
    result = subprocess.run(
        [require_promtool(), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"`promtool {' '.join(args)}` exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def test_rules_are_valid() -> None:
    run_promtool("check", "rules", str(RULES))


def test_rule_unit_tests_pass() -> None:
    run_promtool("test", "rules", str(RULE_TESTS))


def test_prometheus_config_is_valid(tmp_path: Path) -> None:
    # The config names the rule files by their path in the container (test_compose.py checks
    # the mounts): a copy that names them in the repo lets promtool check them too.
    config = load(PROMETHEUS_CONFIG)
    assert config["rule_files"] == [f"/etc/prometheus/{RULES.name}"]
    config["rule_files"] = [str(REPO_ROOT / RULES)]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config), encoding="utf-8")
    run_promtool("check", "config", str(copy))


def load(path: Path) -> Any:
    return yaml.safe_load((REPO_ROOT / path).read_text(encoding="utf-8"))


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_alert_has_duration_severity_and_annotations(rule: dict[str, Any]) -> None:
    assert rule.get("for"), "every alert needs a `for:` so one bad evaluation does not page"
    assert rule.get("labels", {}).get("severity") in {"critical", "warning"}
    annotations = rule.get("annotations", {})
    assert annotations.get("summary")
    assert annotations.get("description")


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_alert_is_unit_tested_firing_and_not_firing(rule: dict[str, Any]) -> None:
    cases = [
        case
        for test in load(RULE_TESTS)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == rule["alert"]
    ]
    assert any(case.get("exp_alerts") for case in cases), "no case where the alert fires"
    assert any(not case.get("exp_alerts") for case in cases), "no case where it stays quiet"
