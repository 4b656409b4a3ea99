"""The one typed settings object of wirewatch, read from `WIREWATCH_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable, with the defaults of a local single-node setup.

    Nothing else in the project reads the environment: build a `Settings()` (or call
    `get_settings()`) and pass it on.
    """

    model_config = SettingsConfigDict(env_prefix="WIREWATCH_", frozen=True, extra="ignore")

    # Kafka connection.
    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated host:port list of Kafka brokers.",
    )

    # Topic names: the only place they are spelled.
    topic_dispatches: str = "dispatches"
    topic_enriched: str = "dispatches.enriched"
    topic_dead_letter: str = "dispatches.dlq"
    alert_topic_prefix: str = Field(
        default="alerts.",
        description="An alert topic is this prefix followed by the watched topic's name.",
    )
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1)

    # Worker.
    app_id: str = Field(default="wirewatch", description="Faust app id = Kafka consumer group.")
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    spacy_model: str = "fr_core_news_sm"
    top_entities_in_alert: int = Field(default=8, ge=0)
    batch_size: int = Field(
        default=16, ge=1, le=1000,
        description="Dispatches the worker hands to spaCy at once (batching is ~2x faster).")
    batch_within: float = Field(
        # Short: under load batches fill at once; at a quiet time a dispatch should not wait.
        default=0.01, gt=0,
        description="Seconds the worker waits to fill a batch before processing what it has.")

    # Local development broker (`wirewatch broker ...`).
    state_dir: Path = Field(
        default=Path(".wirewatch"),
        description="Broker data and logs, worker data (git-ignored).",
    )
    cache_dir: Path = Field(
        default=Path(".cache"), description="Resolved Kafka jars (git-ignored)."
    )
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    broker_heap: str = Field(default="768m", description="JVM heap of the local broker.")
    broker_start_timeout: float = Field(default=90.0, gt=0)

    @field_validator("alert_topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError("alert_topic_prefix must be non-empty and contain no spaces")
        return value

    @property
    def broker_url(self) -> str:
        """The Faust broker URL for `bootstrap_servers`."""
        return ";".join(f"kafka://{server.strip()}" for server in self.bootstrap_servers.split(","))

    def alert_topic(self, topic: str) -> str:
        """The Kafka topic that carries the alerts of a watched topic."""
        return f"{self.alert_topic_prefix}{topic}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
