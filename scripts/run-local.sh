#!/usr/bin/env bash
# `make run`: broker, worker, desk, seed replay, alerts printed as they arrive. Ctrl-C stops
# everything this script started (a broker that was already running is left running).
# With WIREWATCH_BOOTSTRAP_SERVERS set, it uses that Kafka cluster and starts no broker.
set -euo pipefail
cd "$(dirname "$0")/.."
wirewatch=.venv/bin/wirewatch
state=${WIREWATCH_STATE_DIR:-.wirewatch}
mkdir -p "$state"
worker_log="$state/worker.log"
subscribe_err="$state/subscribe.err"
desk_log="$state/desk.log"
worker_ready_seconds=180  # loading the model takes 10-20 s; a cold disk, more

broker_started=0
worker_pid=""
subscribe_pid=""
desk_pid=""

cleanup() {
  trap - INT TERM EXIT
  echo
  [[ -n "$subscribe_pid" ]] && kill "$subscribe_pid" 2>/dev/null || true
  [[ -n "$desk_pid" ]] && kill "$desk_pid" 2>/dev/null || true
  if [[ -n "$worker_pid" ]] && kill -0 "$worker_pid" 2>/dev/null; then
    echo "stopping the worker (pid $worker_pid)..."
    kill -TERM "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
  if [[ "$broker_started" == 1 ]]; then
    "$wirewatch" broker stop || true
  fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM  # Ctrl-C is how a user ends the run: clean up, and it is no error

if [[ -n "${WIREWATCH_BOOTSTRAP_SERVERS:-}" ]]; then
  echo "using the Kafka cluster at $WIREWATCH_BOOTSTRAP_SERVERS (WIREWATCH_BOOTSTRAP_SERVERS);" \
       "no local broker is started"
else
  if ! "$wirewatch" broker status >/dev/null 2>&1; then
    broker_started=1
  fi
  "$wirewatch" broker start
fi

echo "starting the worker (log: $worker_log)..."
"$wirewatch" worker -l info >"$worker_log" 2>&1 &
worker_pid=$!
# Ready when its web port (metrics) answers (after the topics are made and the model is loaded);
# a worker that stops first says why in its log.
port=${WIREWATCH_WEB_PORT:-6066}
for ((waited = 0; waited < worker_ready_seconds * 10; waited++)); do
  if ! kill -0 "$worker_pid" 2>/dev/null; then
    echo "the worker stopped; the end of its log ($worker_log):" >&2
    tail -n 20 "$worker_log" >&2
    worker_pid=""
    exit 1
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# The desk: the same alerts in the browser. Without it the run still goes on.
"$wirewatch" desk >"$desk_log" 2>&1 &
desk_pid=$!
for _ in $(seq 1 300); do
  if grep -q "^desk on " "$desk_log" 2>/dev/null; then
    echo "$(grep -m1 "^desk on " "$desk_log" | sed 's/ (Ctrl-C to stop)//') (log: $desk_log)"
    break
  fi
  if ! kill -0 "$desk_pid" 2>/dev/null; then
    echo "the desk did not start (the alerts are still printed here):" >&2
    tail -n 5 "$desk_log" >&2
    desk_pid=""
    break
  fi
  sleep 0.1
done

# Subscribe before replaying, and wait until the subscriber is positioned, so that no alert
# produced by this run is missed (and none of an earlier run is shown).
"$wirewatch" subscribe 2>"$subscribe_err" &
subscribe_pid=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$subscribe_err" 2>/dev/null && break
  if ! kill -0 "$subscribe_pid" 2>/dev/null; then cat "$subscribe_err" >&2; exit 1; fi
  sleep 0.1
done
cat "$subscribe_err" >&2

"$wirewatch" replay "$@"
echo "waiting for alerts; Ctrl-C stops the worker and the broker this run started" >&2
wait "$subscribe_pid"
