"""The cluster profile's event store: `eventsourcing`'s PostgreSQL persistence."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql


def event_store_env(dsn: str, schema: str = "public") -> dict[str, str]:
    """`eventsourcing` settings for the database named by a `postgresql://` DSN."""
    url = urlsplit(dsn)
    if url.scheme not in {"postgresql", "postgres"} or not url.path.strip("/"):
        raise ValueError("PHOTOSHARE_POSTGRES_DSN must look like "
                         "postgresql://user:password@host:5432/database")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.strip("/")),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
    }


def ensure_database(dsn: str) -> bool:
    """Create the DSN's database if it does not exist (on one machine, `photoshare up`
    and the tests start from nothing); True if it was created."""
    url = urlsplit(dsn)
    name = unquote(url.path.strip("/"))
    maintenance = url._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    (name,)).fetchone()
        if exists:
            return False
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(dsn: str) -> None:
    """For tests: drop the DSN's database, closing whatever is still connected."""
    url = urlsplit(dsn)
    name = unquote(url.path.strip("/"))
    maintenance = url._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
