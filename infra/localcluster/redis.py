"""Redis from Debian's `redis-server`."""

from __future__ import annotations

import shutil
from pathlib import Path

from photoshare.infra.localcluster.process import ServerSpec, port_answers


def redis_spec(home: Path, *, port: int, persistent: bool) -> ServerSpec:
    """A Redis on 127.0.0.1:`port` with its files in `home`; `persistent` keeps an
    append-only file there (for `make cluster`), otherwise nothing is written to disk."""
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("redis-server is not installed: `apt-get install redis-server`")
    home.mkdir(parents=True, exist_ok=True)
    durability = (["--appendonly", "yes", "--appendfsync", "everysec"] if persistent
                  else ["--save", "", "--appendonly", "no"])
    return ServerSpec(
        name="redis",
        argv=[server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(home),
              "--protected-mode", "yes", "--daemonize", "no", *durability],
        address=f"redis://127.0.0.1:{port}/0",
        ready=lambda: _pong(port),
        start_timeout=20, stop_timeout=10)


def _pong(port: int) -> bool:
    import redis

    if not port_answers("127.0.0.1", port):
        return False
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()
