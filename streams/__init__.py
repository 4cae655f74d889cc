"""Event transport: in-process runner, Kafka relay and Faust workers (built in later issues)."""
