"""One process at a time: PostgreSQL advisory locks for work that must not run twice at
once (a campaign's run, the retention purge), whichever host or beat started it.

A session-level lock, held until the block ends, so it spans the work's transactions;
a process that dies loses its connection and with it the lock. The embedded default
(SQLite) runs one worker and one beat, and needs none: there the block always runs.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# The first half of a lock's key: what kind of work (the second says which one).
CAMPAIGN_RUN = 0x0CA3
MAINTENANCE = 0x0CA4
ORDERED_LINES = 0x0CA5


@contextmanager
def alone(namespace: int, key: int, wait: bool = False) -> Iterator[bool]:
    """Whether no other session holds the lock ``(namespace, key)``: True with the lock
    held until the block ends; False, at once, if another holds it (or, with ``wait``,
    True once the other has let it go)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s, %s), true", [namespace, key])
        else:
            cursor.execute("SELECT true, pg_try_advisory_lock(%s, %s)", [namespace, key])
        held = cursor.fetchone()[1]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def take_turn(namespace: int, key: int) -> None:
    """Wait until no other transaction holds the lock ``(namespace, key)``, and hold it
    until this transaction ends (call it inside one). Nothing on SQLite: one writer."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])
