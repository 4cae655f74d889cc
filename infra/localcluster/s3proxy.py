"""S3Proxy: an S3 API server that keeps buckets as directories of plain files (jclouds'
`filesystem` provider), from the jars of `maven/s3proxy/pom.xml`. It is the S3 server of
`make cluster`, where photos must survive a restart (moto, the tests' other S3 server,
keeps everything in memory)."""

from __future__ import annotations

from pathlib import Path

from photoshare.infra.localcluster.jars import java17
from photoshare.infra.localcluster.process import ServerSpec, http_answers

S3PROXY_VERSION = "2.6.0"  # s3proxy.version in maven/s3proxy/pom.xml
MAIN_CLASS = "org.gaul.s3proxy.Main"
# The one identity the server accepts (AWS signature v2 or v4), local use only.
ACCESS_KEY = "photoshare-local"
SECRET_KEY = "photoshare-local-secret"

def s3proxy_spec(lib_dir: Path, home: Path, *, port: int, access_key: str = ACCESS_KEY,
                 secret_key: str = SECRET_KEY, java: str | None = None,
                 heap: str = "256m") -> ServerSpec:
    """A server on 127.0.0.1:`port` whose buckets are directories under `home`/buckets,
    accepting requests signed with `access_key` / `secret_key` only."""
    home = Path(home).resolve()
    buckets = home / "buckets"
    buckets.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://127.0.0.1:{port}"
    config = home / "s3proxy.properties"
    config.write_text(
        "# Written by infra/localcluster/s3proxy.py; rewritten at each start.\n"
        f"s3proxy.endpoint={endpoint}\n"
        "s3proxy.authorization=aws-v2-or-v4\n"
        f"s3proxy.identity={access_key}\n"
        f"s3proxy.credential={secret_key}\n"
        "jclouds.provider=filesystem\n"
        f"jclouds.filesystem.basedir={buckets}\n")
    return ServerSpec(
        name="s3proxy",
        argv=[java or java17(), f"-Xms{heap}", f"-Xmx{heap}", "-Djava.awt.headless=true",
              # Its logback default logs every request at DEBUG: INFO is plenty.
              "-DLOG_LEVEL=info",
              "-cp", str(Path(lib_dir).resolve() / "*"), MAIN_CLASS,
              "--properties", str(config)],
        address=endpoint, ready=lambda: http_answers(endpoint), cwd=home, start_timeout=60)
