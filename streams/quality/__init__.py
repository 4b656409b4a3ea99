"""Quality measures: entity and topic evaluation on labelled sets."""
