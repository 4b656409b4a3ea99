"""The local development broker: official Kafka jars from Maven Central, KRaft, loopback."""
