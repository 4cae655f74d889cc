"""Apache Kafka in KRaft mode, one process as broker and controller, from the jars of
`maven/kafka/pom.xml`."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from photoshare.infra.localcluster.jars import classpath, java17
from photoshare.infra.localcluster.process import ServerSpec, port_answers

KAFKA_VERSION = "4.1.1"

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
logger.kafka.name = kafka
logger.kafka.level = info
logger.server.name = org.apache.kafka.server
logger.server.level = info
"""


def server_properties(home: Path, port: int, controller_port: int) -> str:
    # One node, so every internal topic has one replica; the group join delay is dropped
    # so that a consumer group (a Faust worker) starts consuming at once.
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={home / "data"}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
"""


def _jvm(lib_dir: Path, home: Path, heap: str) -> list[str]:
    return [java17(), f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}",
            "-cp", classpath(lib_dir)]


def kafka_spec(lib_dir: Path, home: Path, *, port: int, controller_port: int,
               heap: str = "512m") -> ServerSpec:
    """Write the broker's configuration under `home` (formatting its log directory on
    first use, so a second run keeps the topics) and say how to run it."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    config.write_text(server_properties(home, port, controller_port))
    (home / "log4j2.properties").write_text(LOG4J2)
    if not (home / "data" / "meta.properties").exists():
        cluster_id = new_cluster_id()
        formatted = subprocess.run(
            [*_jvm(lib_dir, home, "256m"), "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(config), "--standalone"], capture_output=True, text=True)
        if formatted.returncode != 0:
            raise RuntimeError(f"Kafka's StorageTool could not format {home / 'data'}: "
                               f"{formatted.stdout}{formatted.stderr}"[-3000:])
    return ServerSpec(
        name="kafka",
        argv=[*_jvm(lib_dir, home, heap), "kafka.Kafka", str(config)],
        address=f"127.0.0.1:{port}",
        ready=lambda: _broker_ready(port),
        start_timeout=90)


def new_cluster_id() -> str:
    """A random cluster id as Kafka writes them (URL-safe base64 of 16 bytes), never one
    starting with "-", which StorageTool's argument parser would take for an option (as
    Kafka's own Uuid.randomUuid avoids too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _broker_ready(port: int) -> bool:
    """The broker answers metadata requests (its port opens a little before it can)."""
    from kafka import KafkaAdminClient

    if not port_answers("127.0.0.1", port):
        return False
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=3000)
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()
