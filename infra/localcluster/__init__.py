"""Real servers on free ports on this machine: PostgreSQL, Redis, Apache Kafka, Apache
Cassandra and OpenSearch, started from Debian's binaries and from jars Maven resolves from
Maven Central. The tests start each once per session; `photoshare local-cluster`
(`make cluster`) starts them all for the cluster profile.

`process` starts, watches and stops one server; one module per engine describes how that
engine is configured and when it is ready; `jars` resolves the JVM engines' jars.
"""
