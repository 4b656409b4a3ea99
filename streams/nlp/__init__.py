"""The language layer: entities, topic rules and classification. Pure: no Kafka, no Faust."""
