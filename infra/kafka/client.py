"""Kafka plumbing for the cluster profile (kafka-python): topics and the producer.

kafka-python's idempotent producer (`enable_idempotence=True`, `acks="all"`) is used
because aiokafka's idempotent mode fails against some Kafka-protocol brokers; with it a
retried send never duplicates or reorders within a partition.
"""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from photoshare.infra.settings import Settings
from photoshare.streams.topics import all_topics

log = logging.getLogger("photoshare.kafka")


def ensure_topics(settings: Settings) -> list[str]:
    """Create the event topics that do not exist yet; the names of those created.

    Retention is forever (`retention.ms=-1`): the topics are the system of record for
    analysts and rebuilds, next to the event store.
    """
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                             client_id="photoshare-admin")
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in all_topics(settings.kafka_topic_prefix)
                   if topic not in existing]
        created = []
        for topic in missing:
            try:
                admin.create_topics([NewTopic(
                    topic, num_partitions=settings.kafka_partitions,
                    replication_factor=settings.kafka_replication_factor,
                    topic_configs={"retention.ms": "-1", "cleanup.policy": "delete"})])
                created.append(topic)
            except TopicAlreadyExistsError:
                pass  # another process made it first
        if created:
            log.info("created topics %s with %d partitions", created, settings.kafka_partitions)
        return created
    finally:
        admin.close()


def idempotent_producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="photoshare-relay",
        enable_idempotence=True,
        acks="all",
        # One request in flight per broker: a request that fails and is retried can then
        # never land after a later one. The workers skip an event at or below their
        # partition's checkpoint as a redelivery, so a partition must hold the log's
        # order; with five in flight, the crash test once lost the first four events
        # sent to a fresh topic, which landed after the next ones of their partitions.
        max_in_flight_requests_per_connection=1,
        linger_ms=2,
        compression_type=None,
    )
