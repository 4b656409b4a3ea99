"""The local development broker: official Apache Kafka jars from Maven Central, run in KRaft
mode as one combined broker/controller on loopback (`wirewatch broker start|stop|status`)."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from streams.settings import Settings

BROKER_FILES = Path(__file__).resolve().parent / "files"
POM = BROKER_FILES / "pom.xml"
LOG4J_CONFIG = BROKER_FILES / "log4j2.properties"
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


class BrokerError(RuntimeError):
    """The local broker cannot be set up or started; the message says what to do."""


SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Characters that would break the JAAS line or StorageTool's --add-scram syntax.
_UNQUOTABLE = set(',[]="\\; \n')


@dataclass(frozen=True)
class SecureListener:
    """An extra SASL_SSL listener of the local broker, to try TLS and SASL logins locally.

    `keystore_pem` holds the broker's unencrypted PKCS#8 private key ("BEGIN PRIVATE KEY")
    and its certificate chain. `users` log in with any of `SASL_MECHANISMS`; SCRAM users are
    written when the storage is formatted, so they are fixed for the life of a state folder.
    `powerless_users` log in too but may do nothing (an authorizer is then on, which allows
    everything to `users` and to the PLAINTEXT listeners): a login a cluster refuses to
    create topics for, as in a shop that manages its topics.
    """

    port: int
    keystore_pem: Path
    users: Mapping[str, str] = field(repr=False)  # name -> password
    powerless_users: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def logins(self) -> dict[str, str]:
        return {**self.users, **self.powerless_users}

    def __post_init__(self) -> None:
        bad = [name for name, password in self.logins.items()
               if not name or not password or _UNQUOTABLE & set(name + password)]
        if not self.users or bad:
            raise BrokerError(f"SASL users need a non-empty name and password without any of "
                              f"{''.join(sorted(_UNQUOTABLE))!r}; check: {bad or 'no user'}")


@dataclass(frozen=True)
class BrokerPaths:
    """Where the local broker keeps its jars (cache) and its state (data, logs, pid)."""

    jars: Path
    home: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerPaths:
        version = kafka_version()
        return cls(jars=(settings.cache_dir / f"kafka-{version}").resolve(),
                   home=(settings.state_dir / "broker").resolve())

    @property
    def lib(self) -> Path:
        return self.jars / "lib"

    @property
    def resolved_marker(self) -> Path:
        return self.jars / ".resolved"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def pidfile(self) -> Path:
        return self.home / "broker.pid"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"


def kafka_version() -> str:
    """The Kafka version the POM pins (one place to change it)."""
    text = POM.read_text(encoding="utf-8")
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start:text.index("</kafka.version>", start)].strip()


def _require_tool(name: str, purpose: str) -> str:
    found = shutil.which(name)
    if found is None:
        package = "maven" if name == "mvn" else "openjdk-17-jre-headless"
        raise BrokerError(
            f"`{name}` is not on PATH: it is needed to {purpose}. "
            f"Install it (Debian: apt-get install {package}) and try again."
        )
    return found


def resolve_jars(paths: BrokerPaths, *, quiet: bool = True) -> Path:
    """Copy the broker jars from Maven Central into the cache once; later calls are free."""
    if paths.resolved_marker.exists() and any(paths.lib.glob("kafka_*.jar")):
        return paths.lib
    mvn = _require_tool("mvn", "resolve the Apache Kafka broker jars from Maven Central")
    _require_tool("java", "run the Kafka broker")
    paths.lib.mkdir(parents=True, exist_ok=True)
    command = [
        mvn, "-B", *(["-q"] if quiet else []), "-f", str(POM),
        "dependency:copy-dependencies", f"-DoutputDirectory={paths.lib}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"resolving the Kafka jars with Maven failed:\n{tail}")
    paths.resolved_marker.write_text(kafka_version() + "\n", encoding="utf-8")
    return paths.lib


def _secure_properties(secure: SecureListener) -> list[str]:
    """The SASL_SSL listener's TLS key and logins (inter-broker traffic stays PLAINTEXT)."""
    prefix = "listener.name.sasl_ssl"
    plain_users = " ".join(f'user_{name}="{password}"' for name, password in
                           secure.logins.items())
    authorizer = [
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # ANONYMOUS: the PLAINTEXT and controller listeners, the broker's own traffic.
        "super.users=" + ";".join(f"User:{name}" for name in ["ANONYMOUS", *secure.users]),
        "allow.everyone.if.no.acl.found=false",
    ] if secure.powerless_users else []
    return [
        *authorizer,
        f"{prefix}.ssl.keystore.type=PEM",
        # Kafka reads a PEM keystore file with an unencrypted key when no key password is set.
        f"{prefix}.ssl.keystore.location={secure.keystore_pem.resolve()}",
        f"{prefix}.sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}",
        f"{prefix}.plain.sasl.jaas.config="
        f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
        *(f"{prefix}.{mechanism.lower()}.sasl.jaas.config="
          "org.apache.kafka.common.security.scram.ScramLoginModule required;"
          for mechanism in SASL_MECHANISMS if mechanism.startswith("SCRAM-")),
    ]


def server_properties(settings: Settings, paths: BrokerPaths,
                      secure: SecureListener | None = None) -> str:
    host = settings.broker_host
    sasl_ssl = f",SASL_SSL://{host}:{secure.port}" if secure else ""
    return "\n".join([
        "# Written by `wirewatch broker start`; edits are overwritten.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{settings.controller_port}",
        f"listeners=PLAINTEXT://{host}:{settings.broker_port}{sasl_ssl},"
        f"CONTROLLER://{host}:{settings.controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{settings.broker_port}{sasl_ssl}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        + (",SASL_SSL:SASL_SSL" if secure else ""),
        *(_secure_properties(secure) if secure else []),
        f"log.dirs={paths.data}",
        # Topics are created by the worker with their partition count; a typo in a topic
        # name must fail rather than silently create a one-partition topic.
        "auto.create.topics.enable=false",
        f"num.partitions={settings.topic_partitions}",
        # One node: every internal topic has one replica.
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        "",
    ])


def _port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(paths: BrokerPaths) -> int | None:
    try:
        return int(paths.pidfile.read_text(encoding="utf-8").strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_our_broker(pid: int, paths: BrokerPaths) -> bool:
    """True when `pid` is alive and is the broker we started with our config file."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return MAIN_CLASS.encode() in cmdline and str(paths.config).encode() in cmdline


def running_pid(paths: BrokerPaths) -> int | None:
    """The pid of the broker this project started, if it is running."""
    pid = _read_pid(paths)
    return pid if pid is not None and _is_our_broker(pid, paths) else None


def new_cluster_id() -> str:
    """A random KRaft cluster id as Kafka writes them (URL-safe base64 of a UUID). Like
    Kafka's own `Uuid.randomUuid`, never one starting with "-": the storage tool would take
    it for an option (1 id in 64 otherwise)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage(paths: BrokerPaths, secure: SecureListener | None = None) -> None:
    if (paths.data / "meta.properties").exists():
        return
    cluster_id = new_cluster_id()
    # In KRaft, SCRAM credentials live in the metadata log: the first ones are written here.
    scram_users = [
        arg for mechanism in SASL_MECHANISMS if mechanism.startswith("SCRAM-")
        for name, password in (secure.logins.items() if secure else ())
        for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
    ]
    result = subprocess.run(
        ["java", "-cp", f"{paths.lib}/*", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
         f"-Dkafka.logs.dir={paths.logs}", STORAGE_TOOL, "format",
         "-t", cluster_id, "-c", str(paths.config), *scram_users],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise BrokerError(f"formatting KRaft storage failed:\n{result.stdout}{result.stderr}")


@dataclass(frozen=True)
class StartResult:
    pid: int
    already_running: bool
    seconds: float


def start(settings: Settings, timeout: float | None = None,
          secure: SecureListener | None = None) -> StartResult:
    """Start the local broker and return once it accepts connections; idempotent.

    With `secure`, it also serves SASL_SSL on `secure.port` (the readiness check still uses
    the PLAINTEXT listener)."""
    began = time.monotonic()
    paths = BrokerPaths.from_settings(settings)
    pid = running_pid(paths)
    host, port = settings.broker_host, settings.broker_port
    if pid is not None:
        _wait_until_ready(settings, paths, lambda: _is_our_broker(pid, paths),
                          timeout or settings.broker_start_timeout)
        return StartResult(pid, already_running=True, seconds=time.monotonic() - began)
    for taken in (port, settings.controller_port, *([secure.port] if secure else [])):
        if _port_answers(host, taken):
            raise BrokerError(
                f"port {host}:{taken} is taken by another process, not by the broker this "
                f"project started. Stop it (`ss -ltnp 'sport = :{taken}'` shows which) or set "
                "WIREWATCH_BROKER_PORT / WIREWATCH_CONTROLLER_PORT to free ports. If it is a "
                "Kafka cluster wirewatch should use, set WIREWATCH_BOOTSTRAP_SERVERS to it: "
                "`make run` then starts no broker."
            )
    java = _require_tool("java", "run the Kafka broker")
    resolve_jars(paths)
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(server_properties(settings, paths, secure), encoding="utf-8")
    if secure:
        paths.config.chmod(0o600)  # it holds the PLAIN users' passwords
    _format_storage(paths, secure)
    command = [
        java, "-Xms256m", f"-Xmx{settings.broker_heap}", "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={paths.logs}",
        "-cp", f"{paths.lib}/*", MAIN_CLASS, str(paths.config),
    ]
    with paths.console_log.open("ab") as console:
        process = subprocess.Popen(
            command, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not reach the broker directly
        )
    paths.pidfile.write_text(f"{process.pid}\n", encoding="utf-8")
    # Ask the child itself whether it exited: right after the fork, /proc still shows the
    # Python command line until java is exec'd.
    _wait_until_ready(settings, paths, lambda: process.poll() is None,
                      timeout or settings.broker_start_timeout)
    return StartResult(process.pid, already_running=False, seconds=time.monotonic() - began)


def _log_tail(paths: BrokerPaths, lines: int = 25) -> str:
    chunks = []
    for log in (paths.console_log, paths.logs / "server.log"):
        if log.exists():
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {log} ---\n" + "\n".join(text))
    return "\n".join(chunks)


def _wait_until_ready(settings: Settings, paths: BrokerPaths, alive: Callable[[], bool],
                      timeout: float) -> None:
    """Wait until the broker answers a metadata request, or fail with its log."""
    from streams.clients.kafka import broker_answers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerError(f"the broker exited during start-up.\n{_log_tail(paths)}")
        if _port_answers(settings.broker_host, settings.broker_port) and broker_answers(settings):
            return
        time.sleep(0.5)
    raise BrokerError(f"the broker did not answer within {timeout:.0f}s.\n{_log_tail(paths)}")


def stop(settings: Settings, timeout: float = 60.0) -> int | None:
    """Stop the broker this project started (and only it); returns its pid, or None."""
    paths = BrokerPaths.from_settings(settings)
    pid = running_pid(paths)
    if pid is None:
        paths.pidfile.unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_our_broker(pid, paths):
        time.sleep(0.2)
    if _is_our_broker(pid, paths):
        os.kill(pid, signal.SIGKILL)
    paths.pidfile.unlink(missing_ok=True)
    return pid


@dataclass(frozen=True)
class BrokerStatus:
    pid: int | None
    answering: bool
    bootstrap: str
    home: Path
    jars_resolved: bool


def status(settings: Settings) -> BrokerStatus:
    paths = BrokerPaths.from_settings(settings)
    pid = running_pid(paths)
    return BrokerStatus(
        pid=pid,
        answering=_port_answers(settings.broker_host, settings.broker_port),
        bootstrap=f"{settings.broker_host}:{settings.broker_port}",
        home=paths.home,
        jars_resolved=paths.resolved_marker.exists(),
    )
