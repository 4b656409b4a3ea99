#!/usr/bin/env bash
# `make test`: lint, type-check, then the whole test suite against a real local broker.
# Starts the broker if none is running, and stops it afterwards only if it started it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

# kcat: a plain Kafka client reads the alerts; prometheus: a real server scrapes the worker,
# and its promtool checks and unit-tests the alerting rules; amtool checks the Alertmanager
# config that docker-compose ships; chromium: the real browser of the desk's page tests
# (driven by Playwright through /usr/bin/chromium; Playwright downloads nothing).
scripts/system-deps.sh kcat:kcat prometheus:prometheus prometheus:promtool \
  prometheus-alertmanager:amtool chromium:chromium

"$bin/ruff" check .
"$bin/mypy"
# What users install: the wheel, in a fresh virtual environment outside the tree.
"$bin/python" scripts/check-wheel.py

broker_started=0
if ! "$bin/wirewatch" broker status >/dev/null 2>&1; then
  broker_started=1
fi
stop_broker() {
  if [[ "$broker_started" == 1 ]]; then "$bin/wirewatch" broker stop || true; fi
}
trap stop_broker EXIT
"$bin/wirewatch" broker start

"$bin/pytest" "$@"
