"""Kafka clients for the command line: admin, producer, consumer, subscriber-side dedup."""
