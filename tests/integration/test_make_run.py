"""`make run` against a Kafka cluster the user already runs: it uses it and starts nothing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
import uuid

from schemas import Alert
from streams.clients.kafka import read_records
from streams.nlp.rules import watched_topics
from tests.helpers import ROOT, free_port
from tests.helpers.deployment import deployment_for


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_uses_the_cluster_in_bootstrap_servers_and_starts_no_broker(
        private_broker, tmp_path):
    # The user's cluster on a port of its own; the local broker's port stays free, so a
    # broker started by mistake would show there.
    local_port, desk_port = free_port(), free_port()
    deployment = deployment_for(uuid.uuid4().hex[:8], tmp_path,
                                WIREWATCH_DESK_PORT=str(desk_port),
                                WIREWATCH_BOOTSTRAP_SERVERS=private_broker.bootstrap_servers,
                                WIREWATCH_BROKER_PORT=str(local_port),
                                WIREWATCH_CONTROLLER_PORT=str(free_port()))
    out = tmp_path / "make-run.out"
    with out.open("wb") as sink:
        run = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=deployment.env,
                               stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while out.read_text(errors="replace").count("\n  why: ") < len(watched_topics()):
            assert run.poll() is None, f"make run ended:\n{out.read_text(errors='replace')}"
            assert time.monotonic() < deadline, out.read_text(errors="replace")[-3000:]
            assert not _listening(local_port), "a local broker was started"
            time.sleep(0.5)
    finally:
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C: the script stops what it started
        run.wait(timeout=60)  # (make itself ends by the signal)
    text = out.read_text(errors="replace")
    assert "stopping the worker" in text, text[-3000:]
    assert f"using the Kafka cluster at {private_broker.bootstrap_servers}" in text
    assert "Kafka broker started" not in text
    assert f"desk on http://127.0.0.1:{desk_port}/" in text, "it says where the desk is"
    assert not (tmp_path / "state" / "broker").exists(), "no local broker state either"
    # What it printed is what the README shows (in any order: the topics are independent).
    printed = re.findall(r"^\[.*\n  .*\n  why: .*\n  entities: .*$", text, re.MULTILINE)
    example = (ROOT / "README.md").read_text(encoding="utf-8").split(
        "<!-- generated:alert-example", 1)[1].split("```\n")[1]
    assert sorted(printed) == sorted(example.strip().split("\n\n"))
    # The alerts are on the user's cluster, where any client reads them.
    alerts = asyncio.run(read_records(deployment.settings, [
        deployment.settings.alert_topic(topic) for topic in watched_topics()]))
    assert sorted(Alert.model_validate_json(r.value).topic for r in alerts) == sorted(
        watched_topics())
