"""wirewatch's own Prometheus metrics, served with Faust's on the worker's `/metrics`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram, Info

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   120.0, 300.0)

DISPATCHES_CONSUMED = Counter(
    "wirewatch_dispatches_consumed_total",
    "Messages read from the input topic, valid or not.",
)
DISPATCHES_ENRICHED = Counter(
    "wirewatch_dispatches_enriched_total",
    "Dispatches enriched, classified and published to the enriched topic.",
)
WATCHES_IN_FORCE = Gauge(
    "wirewatch_watches_in_force",
    "Watches the worker applies (from the watches topic).",
)
WATCHES_REFUSED = Counter(
    "wirewatch_watches_refused_total",
    "Records of the watches topic the worker refused (an invalid definition): the last good "
    "version of the watch stays in force.",
    ["watch"],
)
SURGES = Counter(
    "wirewatch_surges_total",
    "Surges announced on the surge alert topic: a watch or an entity suddenly everywhere.",
    ["kind"],
)
SURGE_WINDOW_COUNT = Gauge(
    "wirewatch_surge_window_count",
    "Stories in the last complete surge window, per watch (and per entity while its count "
    "reaches the surge minimum or it surges), on the worker that counts it.",
    ["kind", "key"],
)
SURGE_BASELINE = Gauge(
    "wirewatch_surge_baseline",
    "Mean count of the trailing windows that window is compared with (same series).",
    ["kind", "key"],
)
DISPATCHES_REKEYED = Counter(
    "wirewatch_dispatches_rekeyed_total",
    "Dispatches of an agency story sent back to the input topic keyed by their story id "
    "(their producer keyed them otherwise): the versions of a story must share a partition.",
)
NOT_ANALYSED = Counter(
    "wirewatch_dispatches_not_analysed_total",
    "Dispatches published without entities and topics: no NLP pipeline for their language.",
    ["language"],
)
AGENCY_DOCUMENTS = Counter(
    "wirewatch_agency_documents_total",
    "Agency documents read from the raw topic, by format (unknown when unrecognised).",
    ["format"],
)
AGENCY_ITEMS_SKIPPED = Counter(
    "wirewatch_agency_items_skipped_total",
    "Items of agency documents that carry no text (pictures, packages), by reason.",
    ["reason"],
)
DEAD_LETTERS = Counter(
    "wirewatch_dead_letters_total",
    "Messages sent to the dead-letter topic, by reason.",
    ["reason"],
)
ALERTS_PUBLISHED = Counter(
    "wirewatch_alerts_published_total",
    "Alert revisions published, by watched topic and status (new, updated, retracted).",
    ["topic", "status"],
)
PROCESSING_SECONDS = Histogram(
    "wirewatch_processing_seconds",
    "Time from receiving a message to having published its enriched form and alerts.",
    buckets=LATENCY_BUCKETS,
)
STAGE_SECONDS = Histogram(
    "wirewatch_stage_duration_seconds",
    "Time per dispatch in each stage: validate, enrich (entities), classify, publish.",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "wirewatch_end_to_end_latency_seconds",
    "From the dispatch's timestamp on the input topic to the publication of its alert.",
    buckets=LATENCY_BUCKETS,
)
ALERT_SCORE = Histogram(
    "wirewatch_alert_score",
    "Scores of the alerts published new or updated, by watched topic.",
    ["topic"],
    buckets=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
)
CONSUMER_LAG = Gauge(
    "wirewatch_consumer_lag_messages",
    "Messages of an input partition this worker owns that it has not processed yet.",
    ["partition"],
)
SECONDS_SINCE_PROCESSED = Gauge(
    "wirewatch_seconds_since_last_processed",
    "Seconds since this worker last processed a message of an input partition it owns "
    "(since it was assigned the partition, when it has processed none).",
    ["partition"],
)
BUILD_INFO = Info("wirewatch_build", "Versions of the model, gazetteer and rules the worker runs.")

STAGES = ("validate", "enrich", "classify", "publish")
WIREWATCH_METRICS = (WATCHES_IN_FORCE, WATCHES_REFUSED, SURGES, SURGE_WINDOW_COUNT,
                     SURGE_BASELINE, DISPATCHES_CONSUMED, DISPATCHES_ENRICHED,
                     DISPATCHES_REKEYED, NOT_ANALYSED,
                     AGENCY_DOCUMENTS, AGENCY_ITEMS_SKIPPED, DEAD_LETTERS, ALERTS_PUBLISHED,
                     PROCESSING_SECONDS, STAGE_SECONDS, END_TO_END_SECONDS, ALERT_SCORE,
                     CONSUMER_LAG, SECONDS_SINCE_PROCESSED, BUILD_INFO)


def metric_names() -> frozenset[str]:
    """The names under which `/metrics` exposes wirewatch's own metrics (counters with their
    `_total`, info with its `_info`): the list dashboards and tests check against."""
    suffix = {"counter": "_total", "info": "_info"}
    return frozenset(family.name + suffix.get(family.type, "")
                     for metric in WIREWATCH_METRICS for family in metric.describe())


@dataclass
class PartitionProgress:
    """What a worker has processed of each input partition, for lag and stall metrics.

    Plain bookkeeping: the worker records each message, and a timer asks for the lag and age
    of the partitions it owns, given their high watermarks."""

    next_offset: dict[int, int] = field(default_factory=dict)
    last_processed_at: dict[int, float] = field(default_factory=dict)
    assigned_at: dict[int, float] = field(default_factory=dict)

    def processed(self, partition: int, offset: int, now: float) -> None:
        self.next_offset[partition] = offset + 1
        self.last_processed_at[partition] = now

    def snapshot(self, owned: Iterable[int], highwaters: Mapping[int, int],
                 positions: Mapping[int, int], now: float) -> dict[int, tuple[int, float]]:
        """Per owned partition: (messages not processed yet, seconds since last progress)."""
        result = {}
        for partition in owned:
            self.assigned_at.setdefault(partition, now)
            done = self.next_offset.get(partition, positions.get(partition, 0))
            lag = max(highwaters.get(partition, done) - done, 0)
            since = self.last_processed_at.get(partition, self.assigned_at[partition])
            result[partition] = (lag, max(now - since, 0.0))
        for partition in set(self.assigned_at) - set(result):  # revoked
            del self.assigned_at[partition]
        return result


def export_partition_progress(snapshot: Mapping[int, tuple[int, float]]) -> None:
    """Set the lag and age gauges to `snapshot`, dropping the partitions no longer owned."""
    for gauge in (CONSUMER_LAG, SECONDS_SINCE_PROCESSED):
        for (label,) in [key for key in _label_values(gauge)
                         if int(key[0]) not in snapshot]:
            gauge.remove(label)
    for partition, (lag, age) in snapshot.items():
        CONSUMER_LAG.labels(partition=str(partition)).set(lag)
        SECONDS_SINCE_PROCESSED.labels(partition=str(partition)).set(round(age, 3))


def _label_values(gauge: Gauge) -> list[tuple[str, ...]]:
    return [tuple(sample.labels[name] for name in ("partition",))
            for metric in gauge.collect() for sample in metric.samples]
