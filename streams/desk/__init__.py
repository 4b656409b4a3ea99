"""The desk: live alerts in the browser, with their evidence highlighted. Its own process, a
Kafka consumer of the alert topics and of the enriched dispatches, holding only bounded
recent state (several can run behind a proxy)."""
