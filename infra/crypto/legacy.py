"""`photoshare events seal-legacy`: the one-time rewrite of events stored before
crypto-shredding existed, whose personal fields are plaintext in the event store.

Readers already treat such events right (infra.crypto.sealing: the fields read in clear
while the person's key lives and redacted once it was destroyed), but the stored bytes
keep the plaintext. This rewrites each such stored event in place: sealed with its
person's key (made if they have none), or redacted if their account was deleted. Every
rewrite is logged (event position, type, person; never the data), and at the end the
event table is vacuumed so the old row versions do not linger in the database file
(SQLite: VACUUM with secure_delete; PostgreSQL: VACUUM FULL, which locks the table
while it runs: do it in a quiet hour). Backups taken before still hold the plaintext.

It changes no event's meaning, order, id or version, so views, checkpoints and Kafka
offsets stay valid (the topics keep the copies published before: see the README).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from photoshare.commands import PhotoShareCommands
from photoshare.commands.sealed_mapper import SEAL_ATTRIBUTE
from photoshare.events.personal import data_subject, personal_fields, redact
from photoshare.infra.settings import Settings

log = logging.getLogger("photoshare.seal_legacy")


@dataclass
class SealReport:
    scanned: int = 0
    sealed: int = 0
    redacted: int = 0


def _needs_rewrite(state: dict[str, Any]) -> bool:
    """A stored event with personal fields in plaintext (no seal, not already redacted)."""
    data, event_type = state.get("data"), state.get("event_type")
    if not isinstance(data, dict) or not event_type or SEAL_ATTRIBUTE in state:
        return False
    if data_subject(event_type, data) is None:
        return False
    present = {name: data[name] for name in personal_fields(event_type) if name in data}
    return bool(present) and redact(event_type, data) != data


def seal_legacy(commands: PhotoShareCommands, update: Callable[[Any, bytes], None], *,
                user_id: str | None = None, dry_run: bool = False,
                batch: int = 1000) -> SealReport:
    """Rewrite the plaintext stored events (of `user_id` only, if given) through
    `update(stored event, new state)`."""
    report = SealReport()
    mapper, transcoder = commands.mapper, commands.mapper.transcoder
    after = 0
    while True:
        notifications = commands.recorder.select_notifications(
            start=after, limit=batch, inclusive_of_start=False)
        if not notifications:
            return report
        for stored in notifications:
            after = stored.id
            report.scanned += 1
            state = transcoder.decode(stored.state)
            if state.get("event_type") == "AccountDeleted" and not dry_run:
                # Its key should be gone already; make sure (a crash right after the
                # deletion was saved would have left it), before rewriting anything.
                commands.forget_personal_key(state["data"]["user_id"])
            if not _needs_rewrite(state):
                continue
            subject = data_subject(state["event_type"], state["data"])
            if user_id is not None and subject != user_id:
                continue
            event = mapper.to_domain_event(stored)  # opened: clear, or redacted if erased
            rewritten = mapper.to_stored_event(event)  # sealed (or redacted, no key)
            erased = SEAL_ATTRIBUTE not in transcoder.decode(rewritten.state)
            report.redacted += erased
            report.sealed += not erased
            log.info("%s event %d (%s of %s)", "would rewrite" if dry_run else
                     ("redacted" if erased else "sealed"), stored.id, state["event_type"],
                     subject)
            if not dry_run:
                update(stored, rewritten.state)


def run_seal_legacy(settings: Settings, *, user_id: str | None = None,
                    dry_run: bool = False) -> SealReport:
    """Open the profile's event store with its key store and rewrite in place."""
    from photoshare.infra.roots.embedded import open_event_store

    commands = open_event_store(settings)
    table = commands.recorder.events_table_name
    try:
        if settings.profile == "cluster":
            return _on_postgres(settings, commands, table, user_id, dry_run)
        return _on_sqlite(settings, commands, table, user_id, dry_run)
    finally:
        commands.close()


def _on_sqlite(settings: Settings, commands: PhotoShareCommands, table: str,
               user_id: str | None, dry_run: bool) -> SealReport:
    import sqlite3

    connection = sqlite3.connect(settings.event_store_path, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA secure_delete=ON")  # overwritten, not left in free pages
        # The notification id is the row's rowid (`eventsourcing.sqlite`).
        statement = f'UPDATE "{table}" SET state = ? WHERE rowid = ?'

        def update(stored: Any, state: bytes) -> None:
            if connection.execute(statement, (state, stored.id)).rowcount != 1:
                raise RuntimeError(f"event {stored.id} not found to rewrite")

        report = seal_legacy(commands, update, user_id=user_id, dry_run=dry_run)
        if report.sealed + report.redacted and not dry_run:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.execute("VACUUM")
            log.info("vacuumed %s", settings.event_store_path)
        return report
    finally:
        connection.close()


def _on_postgres(settings: Settings, commands: PhotoShareCommands, table: str,
                 user_id: str | None, dry_run: bool) -> SealReport:
    import psycopg
    from psycopg import sql

    name = sql.Identifier(settings.postgres_schema, table)
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as connection:
        statement = sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(name)

        def update(stored: Any, state: bytes) -> None:
            if connection.execute(statement, (state, stored.id)).rowcount != 1:
                raise RuntimeError(f"event {stored.id} not found to rewrite")

        report = seal_legacy(commands, update, user_id=user_id, dry_run=dry_run)
        if report.sealed + report.redacted and not dry_run:
            connection.execute(sql.SQL("VACUUM FULL {}").format(name))
            log.info("vacuumed (full) %s", table)
        return report
