"""Reading what comes in: agency text files, JSON lines, raw Kafka messages."""
