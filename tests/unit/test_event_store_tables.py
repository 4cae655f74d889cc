"""`photoshare up` and the tests make the event store's tables before any role starts
(`supervisor.prepare`): roles opening a new database at the same moment both tried to
create them, and PostgreSQL refused one (a relay died that way in a CI run)."""

from __future__ import annotations

import psycopg

from photoshare.infra.postgres.event_store import create_event_store_tables


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as connection:
        return {row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_the_tables_are_made_once_and_making_them_again_changes_nothing(
        postgres_dsn: str) -> None:
    assert tables(postgres_dsn) == set()
    create_event_store_tables(postgres_dsn)
    made = tables(postgres_dsn)
    assert "photoshare_events" in made, made  # `eventsourcing`: <application>_events
    create_event_store_tables(postgres_dsn)  # a second `prepare`: no error
    assert tables(postgres_dsn) == made
