"""The local broker manager: configuration and the errors a user meets, without starting Java."""

from __future__ import annotations

import socket

import pytest

from streams.devbroker import broker as localbroker
from streams.settings import Settings


def test_kafka_version_is_4x_from_the_pom():
    assert localbroker.kafka_version().startswith("4.")


def test_server_properties_run_kraft_on_loopback_without_auto_topic_creation(tmp_path):
    settings = Settings(state_dir=tmp_path, broker_port=19092, controller_port=19093)
    paths = localbroker.BrokerPaths.from_settings(settings)
    props = dict(line.split("=", 1) for line in
                 localbroker.server_properties(settings, paths).splitlines()
                 if line and not line.startswith("#"))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.dirs"] == str(paths.data)
    assert str(paths.data).startswith(str(tmp_path.resolve()))


def test_start_refuses_a_port_taken_by_another_process(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        settings = Settings(state_dir=tmp_path, cache_dir=tmp_path, broker_port=port)
        with pytest.raises(localbroker.BrokerError, match=f"port 127.0.0.1:{port} is taken"):
            localbroker.start(settings)


def test_missing_maven_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mvn nor java here
    paths = localbroker.BrokerPaths.from_settings(Settings(cache_dir=tmp_path / "cache"))
    with pytest.raises(localbroker.BrokerError, match="`mvn` is not on PATH"):
        localbroker.resolve_jars(paths)


def test_stop_without_a_broker_of_ours_touches_nothing(tmp_path):
    settings = Settings(state_dir=tmp_path)
    paths = localbroker.BrokerPaths.from_settings(settings)
    paths.home.mkdir(parents=True)
    paths.pidfile.write_text("1\n")  # pid 1 is alive but is not our broker
    assert localbroker.stop(settings) is None
    assert not paths.pidfile.exists()


def test_missing_java_is_named_before_anything_starts(tmp_path, monkeypatch):
    from tests.helpers import free_port

    monkeypatch.setenv("PATH", str(tmp_path))
    settings = Settings(state_dir=tmp_path, cache_dir=tmp_path, broker_port=free_port(),
                        controller_port=free_port())
    with pytest.raises(localbroker.BrokerError, match="`java` is not on PATH"):
        localbroker.start(settings)


def test_a_secure_listener_adds_sasl_ssl_with_every_mechanism_and_keeps_plaintext(tmp_path):
    settings = Settings(state_dir=tmp_path, broker_port=19092, controller_port=19093)
    paths = localbroker.BrokerPaths.from_settings(settings)
    secure = localbroker.SecureListener(port=19094, keystore_pem=tmp_path / "broker.pem",
                                        users={"alice": "alice-pw", "bob": "bob-pw"})
    props = dict(line.split("=", 1) for line in
                 localbroker.server_properties(settings, paths, secure).splitlines()
                 if line and not line.startswith("#"))
    assert props["listeners"] == ("PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094,"
                                  "CONTROLLER://127.0.0.1:19093")
    assert props["advertised.listeners"].endswith(",SASL_SSL://127.0.0.1:19094")
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert "SASL_SSL:SASL_SSL" in props["listener.security.protocol.map"]
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == \
        "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == \
        str((tmp_path / "broker.pem").resolve())
    assert 'user_alice="alice-pw" user_bob="bob-pw";' in \
        props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert "alice-pw" not in repr(secure)


def test_a_secure_listener_refuses_passwords_that_would_break_its_config(tmp_path):
    with pytest.raises(localbroker.BrokerError, match="without any of"):
        localbroker.SecureListener(port=1, keystore_pem=tmp_path, users={"alice": 'pw"; x'})


def test_cluster_ids_never_start_with_a_dash_the_storage_tool_would_take_for_an_option():
    # 1 random id in 64 did, and `wirewatch broker start` failed on a fresh state folder.
    ids = [localbroker.new_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(cluster_id) == 22 for cluster_id in ids)
    assert len(set(ids)) == len(ids)
