"""Kafka security settings without Kafka: what is accepted, what is refused and why, and that
secrets stay out of every printed form of the settings."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import faust
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from streams.clients.kafka import connection_options
from streams.settings import Settings
from streams.worker.app import broker_credentials

PASSWORD = "Pw-unit-3e8a1c"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def sasl_ssl(**overrides: object) -> dict[str, object]:
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "alice", "sasl_password": PASSWORD, **overrides}


def test_default_is_plaintext_without_tls_or_sasl_options():
    options = connection_options(Settings())
    assert options["security_protocol"] == "PLAINTEXT"
    assert options["ssl_context"] is None
    assert not any(key.startswith("sasl_") for key in options)
    assert broker_credentials(Settings()) is None


def test_read_from_the_environment_with_the_password_as_a_secret(monkeypatch, ca_file):
    monkeypatch.setenv("WIREWATCH_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("WIREWATCH_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("WIREWATCH_SASL_USERNAME", "alice")
    monkeypatch.setenv("WIREWATCH_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("WIREWATCH_SSL_CAFILE", str(ca_file))
    settings = Settings()
    assert settings.sasl_mechanism == "SCRAM-SHA-256"
    assert settings.ssl_cafile == ca_file
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == PASSWORD


def test_secrets_never_show_in_repr_str_or_dump(ca_file):
    settings = Settings(**sasl_ssl(ssl_cafile=ca_file))
    for shown in (repr(settings), str(settings), settings.model_dump_json(),
                  str(settings.model_dump())):
        assert PASSWORD not in shown
        assert "alice" in shown or "sasl_username" not in shown


def test_connection_options_hand_the_login_and_a_verifying_tls_context_to_aiokafka(ca_file):
    options = connection_options(Settings(**sasl_ssl(ssl_cafile=ca_file)))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "alice"
    assert options["sasl_plain_password"] == PASSWORD  # revealed here, and only here
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    without_hostname_check = Settings(**sasl_ssl(ssl_cafile=ca_file, ssl_check_hostname=False))
    context = connection_options(without_hostname_check)["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_faust_gets_the_same_credentials(ca_file):
    credentials = broker_credentials(Settings(**sasl_ssl(ssl_cafile=ca_file)))
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.username == "alice" and credentials.password == PASSWORD
    assert PASSWORD not in repr(credentials)
    plaintext_login = broker_credentials(Settings(**sasl_ssl(security_protocol="SASL_PLAINTEXT")))
    assert isinstance(plaintext_login, faust.SASLCredentials)
    assert plaintext_login.protocol.value == "SASL_PLAINTEXT"
    tls_only = broker_credentials(Settings(security_protocol="SSL", ssl_cafile=ca_file))
    assert isinstance(tls_only, faust.SSLCredentials)
    assert tls_only.protocol.value == "SSL"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"sasl_password": None}, "SASL_SSL needs WIREWATCH_SASL_USERNAME and WIREWATCH_SASL_PASSWORD"),
    ({"sasl_username": ""}, "SASL_SSL needs WIREWATCH_SASL_USERNAME and WIREWATCH_SASL_PASSWORD"),
    ({"security_protocol": "PLAINTEXT"}, "a SASL user or password is set but security_protocol"),
    ({"sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
    ({"security_protocol": "TLS"}, "security_protocol"),
])
def test_inconsistent_sasl_settings_are_refused_with_what_to_set(overrides, message):
    with pytest.raises(ValidationError, match=message) as raised:
        Settings(**sasl_ssl(**overrides))
    assert PASSWORD not in str(raised.value)


def test_inconsistent_tls_settings_are_refused_with_what_to_set(tmp_path, ca_file):
    cert = tmp_path / "client.pem"
    cert.write_text("x")
    cases = [
        ({"ssl_cafile": ca_file}, "TLS files are set but security_protocol is PLAINTEXT"),
        ({"security_protocol": "SSL", "ssl_certfile": cert},
         "ssl_certfile and ssl_keyfile go together"),
        ({"security_protocol": "SSL", "ssl_key_password": "k"},
         "ssl_key_password is set without ssl_keyfile"),
        ({"security_protocol": "SSL", "ssl_cafile": tmp_path / "missing.pem"},
         f"ssl_cafile {tmp_path / 'missing.pem'} is not a readable file"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValidationError, match=message):
            Settings(**overrides)


def test_an_encrypted_client_key_without_its_password_fails_instead_of_prompting(
        ca: trustme.CA, ca_file: Path, tmp_path: Path):
    leaf = ca.issue_cert("client.example")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    keyfile = tmp_path / "client.key"
    keyfile.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key-secret")))
    certfile = tmp_path / "client.pem"
    leaf.cert_chain_pems[0].write_to_path(str(certfile))
    tls = {"security_protocol": "SSL", "ssl_cafile": ca_file, "ssl_certfile": certfile,
           "ssl_keyfile": keyfile}
    with pytest.raises(ValueError, match="is encrypted: set WIREWATCH_SSL_KEY_PASSWORD"):
        Settings(**tls).ssl_context()
    assert Settings(**tls, ssl_key_password="key-secret").ssl_context() is not None


def test_a_command_with_invalid_settings_says_what_to_fix_without_a_traceback(tmp_path):
    wirewatch = str(Path(sys.executable).with_name("wirewatch"))
    env = {**os.environ, "WIREWATCH_SESSION_TIMEOUT": "2",
           "WIREWATCH_SECURITY_PROTOCOL": "SASL_SSL", "WIREWATCH_SASL_USERNAME": "desk",
           "WIREWATCH_SASL_PASSWORD": PASSWORD, "WIREWATCH_SSL_CAFILE": str(tmp_path / "no.pem")}
    result = subprocess.run([wirewatch, "replay"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("wirewatch: invalid settings:")
    assert "WIREWATCH_SESSION_TIMEOUT" in result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
