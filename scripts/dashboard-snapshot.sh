#!/usr/bin/env bash
# Make monitoring/dashboard.svg from a real run: broker, worker, a Prometheus server scraping
# it, the development feed replayed at a steady rate (with a few bad messages), then the
# dashboard's panels drawn from Prometheus' range API. Takes about three minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
run_dir=$(mktemp -d)
prometheus_port=${PROMETHEUS_PORT:-19090}
worker_pid=""
prometheus_pid=""
broker_started=0

cleanup() {
  [[ -n "$prometheus_pid" ]] && kill "$prometheus_pid" 2>/dev/null || true
  if [[ -n "$worker_pid" ]]; then kill -TERM "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; fi
  if [[ "$broker_started" == 1 ]]; then "$bin/wirewatch" broker stop || true; fi
  rm -rf "$run_dir"
}
trap cleanup EXIT

"$bin/wirewatch" broker status >/dev/null 2>&1 || broker_started=1
"$bin/wirewatch" broker start

export WIREWATCH_APP_ID="wirewatch-snapshot-$$"
export WIREWATCH_TOPIC_RAW="snapshot-$$.dispatches.raw"
export WIREWATCH_TOPIC_DISPATCHES="snapshot-$$.dispatches"
export WIREWATCH_TOPIC_ENRICHED="snapshot-$$.dispatches.enriched"
export WIREWATCH_TOPIC_DEAD_LETTER="snapshot-$$.dispatches.dlq"
export WIREWATCH_ALERT_TOPIC_PREFIX="snapshot-$$.alerts."
export WIREWATCH_STATE_DIR="$run_dir/state"
"$bin/wirewatch" worker -l info >"$run_dir/worker.log" 2>&1 &
worker_pid=$!

cat >"$run_dir/prometheus.yml" <<YAML
global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: ['$PWD/monitoring/alerts.yml']
scrape_configs:
  - job_name: wirewatch
    static_configs:
      - targets: ['127.0.0.1:${WIREWATCH_WEB_PORT:-6066}']
YAML
prometheus --config.file="$run_dir/prometheus.yml" --storage.tsdb.path="$run_dir/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" >"$run_dir/prometheus.log" 2>&1 &
prometheus_pid=$!
until curl -sf "http://127.0.0.1:$prometheus_port/-/ready" >/dev/null; do sleep 0.5; done

"$bin/wirewatch" replay tests/data/topics_dev.jsonl --rate 2 &
replay_pid=$!
sleep 30  # then some bad messages among the good ones, so that dead letters show
"$bin/python" - <<PY
import asyncio
from streams.clients.kafka import start_producer
from streams.settings import Settings
async def main():
    producer = await start_producer(Settings())
    for n in range(6):
        await producer.send_and_wait(Settings().topic_dispatches, b"{truncated", key=f"bad-{n}".encode())
    await producer.stop()
asyncio.run(main())
PY
wait "$replay_pid"
sleep 20
"$bin/python" monitoring/render_dashboard.py --prometheus "http://127.0.0.1:$prometheus_port" \
  --minutes 3.5 --out monitoring/dashboard.svg
