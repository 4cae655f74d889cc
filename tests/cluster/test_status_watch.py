"""`photoshare projections status --watch` on the cluster profile keeps one set of
connections (PostgreSQL, Redis, Cassandra) for the whole watch, closes them at the end,
and survives its connections being cut (as a server restart does) with a one-line
message rather than a traceback."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
import pytest
from photoshare.infra.cli.main import main
from photoshare.infra.roots.embedded import open_event_store
from photoshare.infra.roots.supervisor import prepare
from photoshare.infra.settings import Settings
from photoshare.streams.status_sources import StatusSources
from support.cluster import cluster_servers
from support.engines import Engines

pytestmark = [pytest.mark.cluster]


def _refuse_connections(settings: Settings, refuse: bool) -> None:
    """Our database refuses new connections and its open ones are ended (an outage of the
    event store, as a server restart makes, but for this test's database alone); or takes
    them again."""
    dsn = urlsplit(settings.postgres_dsn)
    database = dsn.path.lstrip("/")
    with psycopg.connect(urlunsplit(dsn._replace(path="/postgres")),
                         autocommit=True) as connection:
        connection.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
            sql.Identifier(database), sql.SQL("false" if refuse else "true")))
        if refuse:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s", (database,))


def _our_backends(settings: Settings, terminate: bool = False) -> int:
    """The connections to this test's event-store database but ours (ended first when
    `terminate`: what a PostgreSQL restart does to its clients)."""
    query = ("SELECT {} FROM pg_stat_activity WHERE datname = current_database() "
             "AND pid <> pg_backend_pid()")
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as connection:
        if terminate:
            return len(connection.execute(
                query.format("pg_terminate_backend(pid)")).fetchall())
        row = connection.execute(query.format("count(*)")).fetchone()
        return int(row[0]) if row else 0


def _no_backends_soon(settings: Settings, seconds: float = 15) -> bool:
    """Whether the database's other connections are all gone within `seconds` (a backend
    exits a moment after its client closes or it is terminated)."""
    deadline = time.monotonic() + seconds
    while _our_backends(settings):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_status_watch_opens_its_connections_once_and_survives_a_restart(
        tmp_path: Path, engines: Engines, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with cluster_servers(engines, tmp_path, view_engines=True, s3=False) as servers:
        settings = servers.settings()
        prepare(settings)
        open_event_store(settings).close()  # the event tables, as the write API makes them
        for name, value in servers.env.items():
            if name.startswith("PHOTOSHARE_"):
                monkeypatch.setenv(name, value)
        opened: list[StatusSources] = []
        real_open = StatusSources._open

        def counting_open(self: StatusSources) -> None:
            real_open(self)
            opened.append(self)  # opened, not just tried

        monkeypatch.setattr(StatusSources, "_open", counting_open)
        # The set-up's pooled connections may linger until collected: end them.
        _our_backends(settings, terminate=True)
        assert _no_backends_soon(settings)

        # N readings through one set of connections, all closed at the end.
        assert main(["projections", "status", "--watch", "0.05", "--iterations", "6"]) == 0
        out, err = capsys.readouterr()
        assert out.count("log head:") == 6 and out.count("per partition") == 6, out
        assert len(opened) == 1, err
        assert _no_backends_soon(settings)

        # The connections cut mid-watch: one line says so, the watch goes on.
        readings = 30
        result: list[int] = []
        watch = threading.Thread(target=lambda: result.append(main([
            "projections", "status", "--watch", "0.1", "--iterations", str(readings)])))
        watch.start()
        shown, errors = "", ""
        deadline = time.monotonic() + 60
        while shown.count("log head:") < 2:
            assert watch.is_alive() and time.monotonic() < deadline, (shown, errors)
            out, err = capsys.readouterr()
            shown, errors = shown + out, errors + err
            time.sleep(0.02)
        assert _our_backends(settings) > 0  # the watch holds its connections
        # Connections cut (the libraries reconnect by themselves)...
        assert _our_backends(settings, terminate=True) > 0
        # ... then an outage: the database refuses connections until we let it again.
        _refuse_connections(settings, True)
        try:
            while "reading the status failed" not in errors:
                assert watch.is_alive() and time.monotonic() < deadline + 60, (shown, errors)
                out, err = capsys.readouterr()
                shown, errors = shown + out, errors + err
                time.sleep(0.05)
        finally:
            _refuse_connections(settings, False)
        watch.join(timeout=120)
        assert not watch.is_alive()
        out, err = capsys.readouterr()
        shown, errors = shown + out, errors + err
        assert result == [0], errors
        assert shown.count("log head:") == readings
        assert "Traceback" not in errors
        assert errors.count("reading the status failed") == 1, errors  # one line an outage
        assert errors.count("photoshare: reconnected") == 1, errors
        assert all(line.startswith("photoshare: ") for line in errors.splitlines()), errors
        # The first watch's set, this one's, and one more after the outage.
        assert len(opened) == 3, errors
        assert _no_backends_soon(settings)  # all closed at the end
