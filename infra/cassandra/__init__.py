"""Cassandra (or ScyllaDB) implementations of the graph and photos views (cluster profile).

`schema` owns the keyspace: its tables, the partition layout they share (position
buckets and hash shards, each with its bound) and `init_cassandra`, which the
`photoshare cassandra init` command calls. `graph` and `photos` implement the
projections' store and query ports on a session bound to that keyspace.

Events reach these stores through Kafka: at least once, in order per aggregate, but
in any order across aggregates. So every write is an idempotent upsert or delete keyed
by ids, counts are derived from rows, and a deleted photo leaves a tombstone that
late or redelivered events respect.
"""
