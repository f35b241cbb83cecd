"""Load an audience into PostgreSQL with COPY, the way bulk loads are fast.

One transaction: the secondary indexes and constraints of the two tables are dropped,
the rows COPYed, then the indexes built once over the whole data (far faster than
updating them row by row) and the constraints validated in one pass. A failure rolls all
of it back, indexes included. VACUUM ANALYZE afterwards gives the planner statistics and
sets the visibility map, so the first benchmark already gets index-only scans. The
tables are locked meanwhile: seed a scratch database.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from campaigns.bench.audience import EVENT_COLUMNS, PROFILE_COLUMNS, Audience
from campaigns.models import LiveTrigger, Profile, ProfileEvent
from config.vacuum import vacuum_analyze

PROFILES = Profile._meta.db_table
EVENTS = ProfileEvent._meta.db_table
TRIGGERS = LiveTrigger._meta.db_table


class SeedError(Exception):
    pass


@dataclass
class Progress:
    """What ``seed`` reports as it goes: a table's name and its rows so far, or a step."""

    table: str
    rows: int = 0
    step: str = ""


def seed(
    profiles: int,
    events: int,
    random_seed: int,
    now: datetime,
    clear: bool = False,
    progress: Callable[[Progress], None] = lambda _: None,
) -> None:
    """Write ``profiles`` profiles and exactly ``events`` events (``audience.py``)."""
    if connection.vendor != "postgresql":
        raise SeedError(f"seeding uses PostgreSQL's COPY; this database is {connection.vendor}")
    audience = Audience(profiles, events, random_seed, now)
    with transaction.atomic(), connection.cursor() as cursor:
        if clear:
            # Live triggers point at the events: they go with them.
            cursor.execute(f"TRUNCATE {TRIGGERS}, {EVENTS}, {PROFILES} RESTART IDENTITY")
        elif Profile.objects.exists():
            raise SeedError(
                f"there are already {Profile.objects.count():,} profiles: pass --clear to "
                "replace them and their events"
            )
        # This transaction's own sort memory for the index builds.
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        dropped = _drop_secondary(cursor)
        _copy(cursor, PROFILES, PROFILE_COLUMNS, audience.profiles(), progress)
        _copy(cursor, EVENTS, EVENT_COLUMNS, audience.events(), progress)
        for table, statement in dropped:
            progress(Progress(table, step=statement))
            cursor.execute(statement)
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{PROFILES}', 'id'), "
            f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {PROFILES}"
        )
    progress(Progress(f"{PROFILES}, {EVENTS}", step="VACUUM (ANALYZE)"))
    vacuum_analyze(PROFILES, EVENTS)


def _drop_secondary(cursor) -> list[tuple[str, str]]:
    """Drop the tables' foreign keys, unique constraints and indexes other than the
    primary keys; return the statements that recreate them, in order."""
    tables = [PROFILES, EVENTS]
    cursor.execute(
        """SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
           FROM pg_constraint
           WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u')
           ORDER BY contype, conname""",
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """SELECT indrelid::regclass::text, indexrelid::regclass::text,
                  pg_get_indexdef(indexrelid)
           FROM pg_index
           WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary
             AND indexrelid NOT IN (SELECT conindid FROM pg_constraint)
           ORDER BY 1, 2""",
        [tables],
    )
    indexes = cursor.fetchall()
    for table, name, _, _ in constraints:  # foreign keys first (contype order)
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _, name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    # Indexes, then unique constraints, then the foreign keys that rely on them.
    return [(table, definition) for table, _, definition in indexes] + [
        (table, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for table, name, _, definition in sorted(constraints, key=lambda c: c[2] == "f")
    ]


def _copy(cursor, table: str, columns: list[str], blocks, progress) -> None:
    rows = 0
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for block in blocks:
            copy.write("".join(block))
            rows += len(block)
            progress(Progress(table, rows))
    progress(Progress(table, step=f"{table}: {rows:,} rows copied"))
