"""TLS and SASL on a real broker: a private local broker with a SASL_SSL listener (certificates
made here), a worker and the CLI logging in through it, and clear, fast failures on a wrong
password or an untrusted certificate."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from schemas import Alert
from streams.clients.kafka import ensure_topics, start_consumer, start_producer
from streams.devbroker import broker as localbroker
from streams.nlp.rules import watched_topics
from streams.settings import Settings
from tests.helpers.deployment import (
    WIREWATCH,
    Deployment,
    WorkerProcess,
    deployment_for,
    free_port,
    start_worker,
)

pytestmark = pytest.mark.integration

USER = "wirewatch"
# Distinctive, so that finding it in a log or a page cannot be a coincidence.
PASSWORD = "Pw-7f3c9e-never-shown"
WRONG_PASSWORD = "Wrong-5b1d2a-not-it"
# Logs in, may do nothing: the broker refuses it topic creation (and everything else).
POWERLESS = ("visitor", "Visitor-2c8e41-pw")
SEED_ID = "702952208b099811"
WATCHED = watched_topics()
# Generous: two cores, and other integration tests run at the same time.
FAIL_FAST_SECONDS = 30


@dataclass(frozen=True)
class SecureBroker:
    port: int
    ca_pem: Path
    tmp: Path

    def env(self, *, mechanism: str = "SCRAM-SHA-512", password: str = PASSWORD,
            cafile: Path | None = None, user: str = USER) -> dict[str, str]:
        """`WIREWATCH_*` variables of a client of the SASL_SSL listener."""
        return {
            "WIREWATCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.port}",
            "WIREWATCH_SECURITY_PROTOCOL": "SASL_SSL",
            "WIREWATCH_SASL_MECHANISM": mechanism,
            "WIREWATCH_SASL_USERNAME": user,
            "WIREWATCH_SASL_PASSWORD": password,
            "WIREWATCH_SSL_CAFILE": str(cafile or self.ca_pem),
        }

    def deployment(self, **env: str) -> Deployment:
        run_id = uuid.uuid4().hex[:8]
        return deployment_for(run_id, self.tmp / run_id, **env)


def _keystore_pem(cert: trustme.LeafCert) -> bytes:
    """The broker's key as unencrypted PKCS#8 (what Kafka's PEM keystore reads; trustme writes
    the traditional "EC PRIVATE KEY" form) followed by its certificate chain."""
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return pkcs8 + b"".join(blob.bytes() for blob in cert.cert_chain_pems)


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    tmp = tmp_path_factory.mktemp("secure-broker")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    keystore = tmp / "broker-keystore.pem"
    keystore.write_bytes(_keystore_pem(ca.issue_cert("127.0.0.1", "localhost")))
    settings = Settings(state_dir=tmp / "state", broker_port=free_port(),
                        controller_port=free_port(), broker_heap="512m")
    listener = localbroker.SecureListener(port=free_port(), keystore_pem=keystore,
                                          users={USER: PASSWORD},
                                          powerless_users=dict([POWERLESS]))
    try:
        localbroker.start(settings, timeout=180, secure=listener)
        yield SecureBroker(port=listener.port, ca_pem=tmp / "ca.pem", tmp=tmp)
    finally:
        localbroker.stop(settings)


@pytest.fixture(scope="module")
def secure_worker(secure_broker: SecureBroker, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[Deployment, WorkerProcess]]:
    deployment = secure_broker.deployment(**secure_broker.env())
    worker = start_worker(deployment, tmp_path_factory.mktemp("secure-worker") / "worker.log")
    yield deployment, worker
    code = worker.stop()
    assert code == 0, f"worker did not stop cleanly ({code}):\n{worker.log_text()[-3000:]}"


def test_worker_processes_a_dispatch_replayed_through_sasl_ssl(secure_worker):
    deployment, _ = secure_worker
    replay = deployment.run("replay")
    assert replay.returncode == 0, replay.stderr.decode()
    # The alerts, read back through the secured listener by the CLI a subscriber runs.
    subscribe = deployment.run("subscribe", "--from-beginning", "--value-only", "--max", "3",
                               "--timeout", "90")
    assert subscribe.returncode == 0, subscribe.stderr.decode()
    alerts = [Alert.model_validate_json(line) for line in subscribe.stdout.splitlines()]
    assert sorted(a.topic for a in alerts) == sorted(WATCHED)
    assert {a.dispatch_id for a in alerts} == {SEED_ID}


def test_the_password_is_on_neither_the_metrics_page_nor_the_log(secure_worker):
    deployment, worker = secure_worker
    url = f"http://127.0.0.1:{deployment.settings.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert "faust_" in page  # it is the real metrics page
    assert PASSWORD not in page
    log = worker.log_text()
    assert "Authenticated as wirewatch via SCRAM-SHA-512" in log  # the login did happen
    assert PASSWORD not in log


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_clients_log_in_with_each_mechanism(secure_broker, mechanism):
    settings = secure_broker.deployment(**secure_broker.env(mechanism=mechanism)).settings
    topic = settings.topic_dispatches

    async def round_trip() -> bytes | None:
        await ensure_topics(settings, [topic])
        producer = await start_producer(settings)
        try:
            await producer.send_and_wait(topic, mechanism.encode(), key=b"k")
        finally:
            await producer.stop()
        consumer = await start_consumer(settings, [topic], from_beginning=True)
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=60)
        finally:
            await consumer.stop()
        return record.value

    assert asyncio.run(round_trip()) == mechanism.encode()


def test_worker_with_a_wrong_password_exits_at_once_and_says_why(secure_broker, tmp_path):
    deployment = secure_broker.deployment(**secure_broker.env(password=WRONG_PASSWORD))
    log = tmp_path / "worker.log"
    began = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen([WIREWATCH, "worker", "-l", "info"], env=deployment.env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        code = process.wait(timeout=FAIL_FAST_SECONDS * 3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the worker still retries after {FAIL_FAST_SECONDS * 3}s:\n"
                    f"{log.read_text(errors='replace')[-3000:]}")
    seconds = time.monotonic() - began
    text = log.read_text(errors="replace")
    assert code != 0, text[-3000:]
    assert seconds < FAIL_FAST_SECONDS, f"exited only after {seconds:.0f}s"
    assert f"refused the SCRAM-SHA-512 login of user '{USER}'" in text, text[-3000:]
    assert "WIREWATCH_SASL_PASSWORD" in text  # says what to check
    assert WRONG_PASSWORD not in text and PASSWORD not in text


def test_replay_with_a_wrong_password_fails_clearly(secure_broker):
    deployment = secure_broker.deployment(
        **secure_broker.env(mechanism="PLAIN", password=WRONG_PASSWORD))
    result = deployment.run("replay", timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert f"refused the PLAIN login of user '{USER}'" in stderr
    assert "Invalid username or password" in stderr  # the broker's own reason
    assert WRONG_PASSWORD not in stderr + result.stdout.decode()


def test_a_broker_certificate_from_an_unknown_ca_fails_the_handshake_clearly(secure_broker):
    other_ca = secure_broker.tmp / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    deployment = secure_broker.deployment(**secure_broker.env(cafile=other_ca))
    result = deployment.run("subscribe", "--timeout", "5", timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "TLS handshake with the Kafka broker" in stderr
    assert "CERTIFICATE_VERIFY_FAILED" in stderr
    assert "WIREWATCH_SSL_CAFILE" in stderr


def test_a_worker_the_broker_refuses_topic_creation_says_so_at_once(secure_broker, tmp_path):
    user, password = POWERLESS
    deployment = secure_broker.deployment(**secure_broker.env(user=user, password=password))
    began = time.monotonic()
    result = subprocess.run([WIREWATCH, "worker", "-l", "info"], env=deployment.env,
                            capture_output=True, timeout=FAIL_FAST_SECONDS * 3, check=False)
    seconds = time.monotonic() - began
    log = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode != 0, log[-3000:]
    assert seconds < FAIL_FAST_SECONDS, f"exited only after {seconds:.0f}s"
    [line] = [line for line in log.splitlines() if "cannot start:" in line]
    assert "the broker did not create " in line  # the topics, in the broker's order:
    assert deployment.settings.topic_dispatches in line
    assert "TOPIC_AUTHORIZATION_FAILED" in line
    assert "WIREWATCH_CREATE_TOPICS=false" in line  # the way out, for managed topics
    assert "Traceback" not in log


def test_replay_as_a_login_refused_creation_fails_clearly(secure_broker):
    user, password = POWERLESS
    deployment = secure_broker.deployment(**secure_broker.env(user=user, password=password,
                                                              mechanism="PLAIN"))
    result = deployment.run("replay", timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "TOPIC_AUTHORIZATION_FAILED" in stderr and "may not create topics" in stderr
    assert password not in stderr
