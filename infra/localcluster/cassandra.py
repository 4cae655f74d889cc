"""A local single-node Apache Cassandra server for the tests and `make cluster`.

The server runs from the jars that `maven/cassandra/pom.xml` resolves from Maven Central
(`mvn -q -B -f infra/localcluster/maven/cassandra/pom.xml dependency:copy-dependencies
-Dlib.dir=LIB`): `org.apache.cassandra.service.CassandraDaemon` on Java 17, without the
tarball's scripts, so this module does what `bin/cassandra` and `cassandra-env.sh` would:
the JVM flags of conf/jvm-server.options and conf/jvm17-server.options that matter here,
the jamm agent, the heap, and a config directory under `home`.

Everything the server writes (data, commit log, hints, saved caches, and the
`cassandra.yaml` and `logback.xml` written here) lives under `home`: a second start with
the same `home` finds its data again. The server listens on 127.0.0.1 only, has no JMX
port (nothing to collide when two run; `nodetool` cannot reach it) and is sized for a
2-core test machine: one token, small memtables and caches, few threads, no snapshots.
It logs to stdout (INFO for Cassandra, WARN otherwise), which `process.start` sends to
the log file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from photoshare.infra.localcluster.jars import java17
from photoshare.infra.localcluster.process import ServerSpec, port_answers

CASSANDRA_VERSION = "5.0.9"  # = cassandra.version in maven/cassandra/pom.xml
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
HOST = "127.0.0.1"
CLUSTER_NAME = "photoshare-local"

# The module exports and opens of Cassandra's conf/jvm17-server.options ("JPMS"):
# Cassandra, jamm, Netty and chronicle reach into JDK internals.
JDK17_MODULE_OPTIONS = (
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
)

# From conf/jvm-server.options and jvm17-server.options, less what does not suit a small
# test server (-XX:+AlwaysPreTouch would make the whole heap resident at once; NUMA).
JVM_OPTIONS = (
    "-ea", "-da:net.openhft...",  # assertions on, as upstream, but not in chronicle
    "-XX:+UseThreadPriorities",
    "-Xss256k",
    "-XX:+UseTLAB", "-XX:+ResizeTLAB",
    "-XX:+PerfDisableSharedMem",  # no hsperfdata file in /tmp
    "-XX:+ExitOnOutOfMemoryError",  # as upstream's startup check asks
    "-Djava.net.preferIPv4Stack=true",
    "-Djdk.attach.allowAttachSelf=true",
    "-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxTenuringThreshold=1",
    "-XX:G1RSetUpdatingPauseTimePercent=5", "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
)

# System properties (all read by Cassandra 5.0's CassandraRelevantProperties) that make a
# single test node start (and stop) at once. A single seed node neither bootstraps nor
# has peers to wait for; these skip the waits that remain.
FAST_START_PROPERTIES = (
    "-Dcassandra-foreground=yes",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",  # no gossip round to settle alone
    "-Dcassandra.initial_token=0",  # the one token (num_tokens: 1): no token allocation
    "-Dcassandra.skip_schema_check=true",  # no wait for schema agreement with peers
    "-Dcassandra.ring_delay_ms=1000",  # no peers to hear from (default 30 s)
    "-Dcassandra.unsafesystem=true",  # system tables: no forced flush on schema changes
    "-Dcassandra.shutdown_announce_in_ms=0",  # stop: no peers to wait for (default 2 s)
)


def cassandra_spec(lib_dir: Path, home: Path, *, port: int, storage_port: int,
                   java: str | None = None, heap: str = "1G") -> ServerSpec:
    """The command line of one Cassandra node on 127.0.0.1:`port` (CQL) and
    `storage_port` (internode), with its config and all its data under `home`.

    `lib_dir` holds the jars of maven/cassandra/pom.xml. Writes `home`/conf/cassandra.yaml
    and `home`/conf/logback.xml (each start rewrites them; the data stays)."""
    lib_dir, home = Path(lib_dir).resolve(), Path(home).resolve()
    jamm = sorted(lib_dir.glob("jamm-*.jar"))
    if not (lib_dir / f"cassandra-all-{CASSANDRA_VERSION}.jar").is_file() or not jamm:
        raise FileNotFoundError(
            f"no Cassandra {CASSANDRA_VERSION} jars (with jamm) in {lib_dir}: run mvn -q -B -f "
            "infra/localcluster/maven/cassandra/pom.xml dependency:copy-dependencies "
            f"-Dlib.dir={lib_dir}")
    conf, data, triggers = home / "conf", home / "data", home / "triggers"
    for directory in (conf, data, triggers):
        directory.mkdir(parents=True, exist_ok=True)
    config = conf / "cassandra.yaml"
    config.write_text(cassandra_yaml(data, port=port, storage_port=storage_port))
    logback = conf / "logback.xml"
    logback.write_text(LOGBACK_XML)
    argv = [
        *without_memory_lock(),
        java or java17(),
        f"-Xms{heap}", f"-Xmx{heap}",
        *JVM_OPTIONS,
        *JDK17_MODULE_OPTIONS,
        f"-javaagent:{jamm[-1]}",
        f"-Dcassandra.config={config.as_uri()}",
        f"-Dcassandra.storagedir={data}",
        f"-Dcassandra.triggers_dir={triggers}",  # empty; else it warns at each CREATE TABLE
        f"-Dlogback.configurationFile={logback.as_uri()}",
        *FAST_START_PROPERTIES,
        # No -Dcassandra.jmx.local.port / remote.port: CassandraDaemon then opens no JMX.
        "-cp", f"{lib_dir}/*",
        MAIN_CLASS,
    ]
    return ServerSpec(name=f"cassandra-{CASSANDRA_VERSION}", argv=argv,
                      address=f"{HOST}:{port}", ready=lambda: answers_cql(HOST, port),
                      cwd=home, start_timeout=180.0, stop_timeout=60.0)


def without_memory_lock() -> list[str]:
    """A prefix that runs the JVM without CAP_IPC_LOCK when we are root.

    CassandraDaemon always calls mlockall(MCL_CURRENT). Root (CAP_IPC_LOCK) is exempt
    from RLIMIT_MEMLOCK, so the call succeeds and faults in the whole committed heap
    (-Xms = -Xmx): seconds of start-up and a resident set of the full heap from the
    start. Without the capability the call fails against the usual 8 MiB limit and
    Cassandra only logs a warning ("Unable to lock JVM memory (ENOMEM)"), as it does for
    any non-root user. `setpriv` (util-linux) drops the capability and execs java: same
    pid, and the parent-death signal stays set (a dropped capability does not clear it).
    """
    if os.geteuid() != 0 or not (setpriv := shutil.which("setpriv")):
        return []
    return [setpriv, "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--"]


def answers_cql(host: str, port: int) -> bool:
    """True when the node serves CQL: a TCP connect first (cheap, while it starts), then
    `SELECT release_version FROM system.local` through the driver."""
    if not port_answers(host, port):
        return False
    from cassandra import ProtocolVersion
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]),
                               request_timeout=5.0)
    # Protocol v5, Cassandra 5.0's own: no downgrade round (and warning) per probe.
    cluster = Cluster(contact_points=[(host, port)], port=port, connect_timeout=3.0,
                      protocol_version=ProtocolVersion.V5,
                      control_connection_timeout=3.0,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        return row is not None and bool(row.release_version)
    finally:
        cluster.shutdown()


def cassandra_yaml(data: Path, *, port: int, storage_port: int) -> str:
    """A minimal cassandra.yaml (Cassandra 5.0 names and units) for one local node."""
    settings: dict[str, object] = {
        "cluster_name": CLUSTER_NAME,
        "num_tokens": 1,
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "endpoint_snitch": "SimpleSnitch",  # datacenter1 / rack1
        "seed_provider": [{
            "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
            "parameters": [{"seeds": f"{HOST}:{storage_port}"}]}],
        "listen_address": HOST,
        "rpc_address": HOST,
        "storage_port": storage_port,
        "native_transport_port": port,
        "start_native_transport": True,
        # Data under home (cassandra.storagedir gives the same defaults; explicit here).
        "data_file_directories": [str(data / "data")],
        "commitlog_directory": str(data / "commitlog"),
        "saved_caches_directory": str(data / "saved_caches"),
        "hints_directory": str(data / "hints"),
        "cdc_raw_directory": str(data / "cdc_raw"),
        "authenticator": "AllowAllAuthenticator",
        "authorizer": "AllowAllAuthorizer",
        "role_manager": "CassandraRoleManager",
        "network_authorizer": "AllowAllNetworkAuthorizer",
        # A new single-node cluster: no 4.x nodes to stay compatible with.
        "storage_compatibility_mode": "NONE",
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "commitlog_segment_size": "16MiB",
        "commitlog_total_space": "256MiB",
        "disk_failure_policy": "stop",
        "commit_failure_policy": "stop",
        "auto_snapshot": False,  # DROP KEYSPACE / TRUNCATE of test keyspaces: no copy
        "snapshot_before_compaction": False,
        "incremental_backups": False,
        "hinted_handoff_enabled": False,  # one node: nobody to hint for
        "cdc_enabled": False,
        "materialized_views_enabled": False,
        "user_defined_functions_enabled": False,
        # Small and few: a 2-core machine running other servers too.
        "memtable_allocation_type": "heap_buffers",
        "memtable_heap_space": "64MiB",
        "memtable_offheap_space": "64MiB",
        "memtable_flush_writers": 1,
        "concurrent_reads": 8,
        "concurrent_writes": 8,
        "concurrent_counter_writes": 2,
        "concurrent_materialized_view_writes": 2,
        "concurrent_compactors": 1,
        "compaction_throughput": "64MiB/s",
        "file_cache_size": "32MiB",
        "key_cache_size": "16MiB",
        "row_cache_size": "0MiB",
        "counter_cache_size": "0MiB",
        "networking_cache_size": "16MiB",
        "prepared_statements_cache_size": "16MiB",
        "index_summary_capacity": "16MiB",
        "trickle_fsync": False,
    }
    # JSON is YAML: the values are quoted and escaped safely for SnakeYAML.
    return "# Written by infra/localcluster/cassandra.py; rewritten at each start.\n" + (
        json.dumps(settings, indent=2) + "\n")


LOGBACK_XML = """\
<!-- Written by infra/localcluster/cassandra.py: the node logs to stdout, which the
     process runner sends to its log file. -->
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern>
    </encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="WARN">
    <appender-ref ref="STDOUT"/>
  </root>
</configuration>
"""
