"""PostgreSQL from Debian's packages: a cluster of our own (initdb into `home`, trust
authentication on 127.0.0.1 only), never the system's."""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from photoshare.infra.localcluster.process import ServerSpec, become, port_answers

log = logging.getLogger("photoshare.localcluster")

# The server refuses to run as root; as root we run it as Debian's `postgres` user.
SERVER_USER = "postgres"


def bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda path: int(Path(path).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).resolve().parent
    raise FileNotFoundError("PostgreSQL is not installed: `apt-get install postgresql`")


def _let_others_pass_through(directory: Path) -> None:
    """Give `directory` and its parents the search bit for others (never read), so the
    server's own user reaches its data dir under a private one (`serve` makes `data/`
    0700, and `make cluster` keeps its servers in `data/cluster/`)."""
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & 0o001 and path.stat().st_uid == os.geteuid():
            path.chmod((mode & 0o7777) | 0o001)
            log.info("made %s passable (mode %o) for the PostgreSQL server's user",
                     path, (mode & 0o7777) | 0o001)


def postgres_spec(home: Path, *, port: int, durable: bool) -> ServerSpec:
    """A server on 127.0.0.1:`port` whose data directory is `home/pgdata` (made on first
    use, kept after). `durable=False` turns fsync off: for tests, never for data you keep."""
    programs = bin_dir()
    user = SERVER_USER if os.geteuid() == 0 else None
    data = home / "pgdata"
    home.mkdir(parents=True, exist_ok=True)
    if user is not None:
        owner = pwd.getpwnam(user)
        os.chown(home, owner.pw_uid, owner.pw_gid)
        _let_others_pass_through(home.resolve().parent)
    if not (data / "PG_VERSION").exists():
        result = subprocess.run(
            [str(programs / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, text=True, preexec_fn=become(user))
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed in {data}: {result.stdout}{result.stderr}"
                               + (f"\n(the `{user}` user must be able to reach {home})"
                                  if user else ""))
    speed = [] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off",
                                "-c", "full_page_writes=off"]
    return ServerSpec(
        name="postgres",
        argv=[str(programs / "postgres"), "-D", str(data), "-p", str(port),
              "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
              "-c", "max_connections=300", "-c", "shared_buffers=128MB", *speed],
        address=f"postgresql://postgres@127.0.0.1:{port}",
        ready=lambda: _answers(port),
        user=user, start_timeout=60, stop_timeout=20,
        stop_signal=signal.SIGINT)  # fast shutdown: SIGTERM waits for every client


def _answers(port: int) -> bool:
    import psycopg

    if not port_answers("127.0.0.1", port):
        return False
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                         connect_timeout=2) as connection:
        connection.execute("SELECT 1")
    return True
