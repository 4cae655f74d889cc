"""The durable copy, in Cassandra, of the cluster workers' per-partition checkpoints.

The checkpoints themselves live in Redis, where they move atomically with the counters
(infra/redis/counters.py); this copy is saved right after them, and serves the
watermark and the workers when Redis has lost its data. One row per Kafka partition
("topic:partition"): the position of the last event whose effects are durable in every
cluster store. All rows of one scope are one small partition, so reading them is one
read. Rows are written `USING TIMESTAMP <position>`: a worker that lost its partition in
a rebalance and finishes a stale batch late can never move a checkpoint back.
"""

from __future__ import annotations

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType
from photoshare.infra.cassandra.schema import keyspace_of

LIVE = "views"

TABLES_CQL = (
    # Bound: one row per Kafka partition of the event topics.
    """CREATE TABLE IF NOT EXISTS {keyspace}.partition_checkpoints (
        scope text, partition text, position bigint,
        PRIMARY KEY ((scope), partition))""",
)


class CassandraCheckpoints:
    def __init__(self, session: Session, scope: str = LIVE) -> None:
        self.session, self.scope = session, scope
        ks = keyspace_of(session)
        self._load = session.prepare(
            f"SELECT partition, position FROM {ks}.partition_checkpoints WHERE scope = ?")
        self._save = session.prepare(
            f"INSERT INTO {ks}.partition_checkpoints (scope, partition, position) "
            "VALUES (?, ?, ?) USING TIMESTAMP ?")

    def load(self) -> dict[str, int]:
        return {row.partition: row.position
                for row in self.session.execute(self._load, (self.scope,))}

    def save(self, moved: dict[str, int]) -> None:
        if not moved:
            return
        # One partition: an unlogged batch is applied atomically and in isolation.
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for partition, position in moved.items():
            batch.add(self._save, (self.scope, partition, position, position))
        self.session.execute(batch)
