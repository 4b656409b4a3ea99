"""The stream processor: the Faust app, its topics, thin agents and the processing they call."""
