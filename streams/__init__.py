"""Moving events from the event store to the projections: the in-process runner of the
embedded profile (the Kafka relay and Faust workers of the cluster profile join later)."""
