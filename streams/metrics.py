"""wirewatch's own Prometheus metrics, served with Faust's on the worker's `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, Info

DISPATCHES_CONSUMED = Counter(
    "wirewatch_dispatches_consumed_total",
    "Messages read from the input topic, valid or not.",
)
DISPATCHES_ENRICHED = Counter(
    "wirewatch_dispatches_enriched_total",
    "Dispatches enriched, classified and published to the enriched topic.",
)
DEAD_LETTERS = Counter(
    "wirewatch_dead_letters_total",
    "Messages sent to the dead-letter topic, by reason.",
    ["reason"],
)
ALERTS_PUBLISHED = Counter(
    "wirewatch_alerts_published_total",
    "Alerts published, by watched topic.",
    ["topic"],
)
PROCESSING_SECONDS = Histogram(
    "wirewatch_processing_seconds",
    "Time from receiving a dispatch to having published its enriched form and alerts.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BUILD_INFO = Info("wirewatch_build", "Versions of the model and rules the worker runs.")
