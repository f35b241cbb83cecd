"""Who is subscribed to an event type, read from a per-process cache that any change
invalidates, in any process.

``lookup(names)`` answers, for each catalogued name, the event type's id, its category
and its webhooks as ``Subscriber``s (id, is_active, how its deliveries are ordered),
with the version of the subscriptions it was read at. On PostgreSQL the answer comes
from a cache kept per process: a name it does not hold is read from the database, with
the version, in one statement.

The version is one row (``webhooks_subscription_version``, migration 0005) that triggers
renumber in the same transaction as any change of a subscription, a webhook's
``is_active`` or order settings (migration 0006), a webhook deleted, or an event type
added, renamed, recategorised or
deleted: whichever process, page or SQL statement made it. A writer puts ``GUARD`` in the
statement that writes with what it looked up (``deliveries.engine.writes``): the statement
writes nothing unless the version is still the one read, so a change committed before
that statement is never missed, and the caller ``forget``s and looks up again. Checking
costs nothing extra (it rides in the write), so the cache has no time to live.

On SQLite (the embedded setup) nothing is cached: each lookup reads the catalog, in the
caller's transaction.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection

from webhooks.models import DeliveryOrder, EventType, Webhook

VERSION_TABLE = "webhooks_subscription_version"

# True while the subscriptions are still at the version given as its one parameter. A
# missing row reads as NULL (IS NOT DISTINCT FROM, not =): the next change brings it back.
GUARD = f"(SELECT version FROM {VERSION_TABLE} WHERE id = 1) IS NOT DISTINCT FROM %s"


class Subscriber(NamedTuple):
    """A webhook subscribed to an event type: what its deliveries' first state and line
    depend on (a change to any of these changes the version)."""

    webhook_id: int
    is_active: bool
    delivery_order: str = DeliveryOrder.ANY
    ordering_key_path: str = ""


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """An event type and the webhooks subscribed to it."""

    event_type_id: int
    category: str
    webhooks: tuple[Subscriber, ...]  # by webhook id


@dataclass(frozen=True, slots=True)
class _Cached:
    version: int | None
    types: dict[str, Subscriptions]


# Replaced whole, never changed in place, so threads need no lock.
_EMPTY = _Cached(version=None, types={})
_cache = _EMPTY


def lookup(names: Iterable[str]) -> tuple[int | None, dict[str, Subscriptions]]:
    """The subscriptions of each of ``names`` in the catalog (names not in it are left
    out), and the version they were read at: what to pass to ``GUARD`` (None on SQLite,
    where there is none).

    A cached answer may be out of date (a name is read only when missing): the write
    that uses it must hold ``GUARD``, and ``forget`` and look up again when it fails."""
    wanted = set(names)
    if connection.vendor != "postgresql":
        return None, _read_orm(wanted)
    global _cache
    cached = _cache
    if wanted <= cached.types.keys() and cached.version is not None:
        return cached.version, {name: cached.types[name] for name in wanted}
    version, found = _read(wanted)
    if version is not None:
        same = version == cached.version
        _cache = _Cached(version, {**cached.types, **found} if same else found)
    return version, found


def forget() -> None:
    """Drop what this process cached: a write found the subscriptions changed."""
    global _cache
    _cache = _EMPTY


def _read(names: set[str]) -> tuple[int | None, dict[str, Subscriptions]]:
    """Read ``names`` and the version in one statement, so they agree."""
    through = Webhook.event_types.through._meta
    sql = f"""
        SELECT (SELECT version FROM {VERSION_TABLE} WHERE id = 1),
            t.id, t.name, t.category, w.id, w.is_active, w.delivery_order, w.ordering_key_path
        FROM (SELECT 1) AS one
        LEFT JOIN {EventType._meta.db_table} t ON t.name = ANY(%s)
        LEFT JOIN {through.db_table} s ON s.eventtype_id = t.id
        LEFT JOIN {Webhook._meta.db_table} w ON w.id = s.webhook_id
        ORDER BY t.id, w.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [sorted(names)])
        rows = cursor.fetchall()
    version = rows[0][0]
    types: dict[str, tuple[int, str, list]] = {}
    for _, type_id, name, category, webhook_id, *subscriber in rows:
        if type_id is None:
            continue
        entry = types.setdefault(name, (type_id, category, []))
        if webhook_id is not None:
            entry[2].append(Subscriber(webhook_id, *subscriber))
    return version, {name: Subscriptions(i, c, tuple(w)) for name, (i, c, w) in types.items()}


def _read_orm(names: set[str]) -> dict[str, Subscriptions]:
    kinds = list(EventType.objects.filter(name__in=names).values_list("id", "name", "category"))
    through = Webhook.event_types.through
    webhooks: dict[int, list[Subscriber]] = {}
    for type_id, webhook_id, *subscriber in (
        through.objects.filter(eventtype_id__in=[kind[0] for kind in kinds])
        .order_by("webhook_id")
        .values_list(
            "eventtype_id",
            "webhook_id",
            "webhook__is_active",
            "webhook__delivery_order",
            "webhook__ordering_key_path",
        )
    ):
        webhooks.setdefault(type_id, []).append(Subscriber(webhook_id, *subscriber))
    return {
        name: Subscriptions(type_id, category, tuple(webhooks.get(type_id, ())))
        for type_id, name, category in kinds
    }
