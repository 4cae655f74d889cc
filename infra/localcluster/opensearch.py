"""A local OpenSearch node: the command line that runs one, as a `ServerSpec`.

The node runs from the jars `maven/opensearch/pom.xml` resolves from Maven Central (copied
into `lib_dir` by `mvn -q -B -f infra/localcluster/maven/opensearch/pom.xml
dependency:copy-dependencies -Dlib.dir=LIB_DIR`): `maven/opensearch/OpenSearchNode.java`, a
source-file program that Java 17 compiles in memory, starts an `org.opensearch.node.Node`
with the needed modules as classpath plugins, on 127.0.0.1 only, single-node, no security
plugin, logging to stdout (`maven/opensearch/log4j2.properties`). Its config, data and logs
live under `home`; a second run with the same `home` finds its indices again. SIGTERM (what
`process.stop` sends) closes the node cleanly.
"""

from __future__ import annotations

import json
from pathlib import Path

from photoshare.infra.localcluster.jars import java17
from photoshare.infra.localcluster.process import ServerSpec, http_get

OPENSEARCH_VERSION = "2.19.6"  # opensearch.version in maven/opensearch/pom.xml

MAVEN_DIR = Path(__file__).resolve().parent / "maven" / "opensearch"
POM = MAVEN_DIR / "pom.xml"
LAUNCHER = MAVEN_DIR / "OpenSearchNode.java"
LOG_CONFIG = MAVEN_DIR / "log4j2.properties"

def cluster_health(address: str, timeout: float = 2.0) -> str:
    """The cluster's health status ("green", "yellow" or "red"); raises if it does not answer."""
    return json.loads(http_get(f"{address}/_cluster/health", timeout))["status"]


def opensearch_spec(lib_dir: Path, home: Path, *, http_port: int, transport_port: int,
                    java: str | None = None, heap: str = "768m") -> ServerSpec:
    """One single-node cluster on 127.0.0.1:`http_port`, from the jars in `lib_dir`, with
    its config, data and logs under `home` (created if missing). Ready once the cluster's
    health is green or yellow."""
    address = f"http://127.0.0.1:{http_port}"
    home = Path(home).resolve()
    argv = [
        java or java17(), f"-Xms{heap}", f"-Xmx{heap}",
        # From the distribution's jvm.options (those that matter outside its launcher).
        "-XX:+UseG1GC", "-Dfile.encoding=UTF-8", "-Djava.awt.headless=true",
        "-Djava.locale.providers=SPI,COMPAT", "-XX:-OmitStackTraceInFastThrow",
        "-Dio.netty.noUnsafe=true", "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0", "-Dlog4j2.formatMsgNoLookups=true",
        f"-Djava.io.tmpdir={home / 'tmp'}",
        f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        "-cp", str(Path(lib_dir).resolve() / "*"),  # expanded by java, not by a shell
        str(LAUNCHER), str(home),
        f"http.port={http_port}", f"transport.port={transport_port}",
    ]
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return ServerSpec(
        name=f"opensearch-{OPENSEARCH_VERSION}",
        argv=argv,
        address=address,
        ready=lambda: cluster_health(address) in ("green", "yellow"),
        cwd=home,
        start_timeout=120.0,
    )
