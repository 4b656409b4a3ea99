"""Readers of dead-letter headers, written from the formats' documentation, not from the
worker's code: Kafka Connect's text headers, and Spring Kafka's as its
DeadLetterPublishingRecoverer writes them (KafkaHeaders.DLT_*: topic, timestamp type and
exception as UTF-8; partition a 4-byte big-endian int; offset and timestamp 8-byte
big-endian longs, as Java's ByteBuffer.putInt/putLong write them)."""

from __future__ import annotations

import struct
from collections.abc import Iterable

SPRING_STRINGS = ("kafka_dlt-original-topic", "kafka_dlt-original-timestamp-type",
                  "kafka_dlt-exception-fqcn", "kafka_dlt-exception-message")
SPRING_INTS = {"kafka_dlt-original-partition": ">i", "kafka_dlt-original-offset": ">q",
               "kafka_dlt-original-timestamp": ">q"}


def text_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """Kafka Connect's and wirewatch's headers, decoded as the text they are."""
    return {name: value.decode("utf-8") for name, value in headers
            if name.startswith(("__connect.errors.", "wirewatch."))}


def spring_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str | int]:
    """Spring Kafka's dead-letter headers as a Spring consumer reads them; a header of the
    wrong size fails as it would there (ByteBuffer.getInt of 3 bytes throws)."""
    decoded: dict[str, str | int] = {}
    for name, value in headers:
        if name in SPRING_STRINGS:
            decoded[name] = value.decode("utf-8")
        elif name in SPRING_INTS:
            fmt = SPRING_INTS[name]
            assert len(value) == struct.calcsize(fmt), f"{name}: {len(value)} bytes"
            decoded[name] = struct.unpack(fmt, value)[0]
    return decoded
