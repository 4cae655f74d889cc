"""Kafka topics and the relay's producer."""
