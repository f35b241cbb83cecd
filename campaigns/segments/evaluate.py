"""A rule as one SQL query over profiles: counted, sampled and streamed by the database.

Each category becomes EXISTS / NOT EXISTS subqueries on the profile's events, so
PostgreSQL answers with semi- and anti-joins over the event indexes, and SQLite (the
embedded default) runs the same query, slower. Nothing loops over profiles in Python.

Times: "in the last N days" is the N×24 hours up to now; calendar days (windows between
dates, "N days ago", "today") are days in the rule's time zone. An event exactly at a
window's edge is inside it. "B after A" means strictly later than A.

The same conditions say which events put a profile in an action rule's audience
(``qualifying_events``): a scheduled campaign sends each member's latest such event's
properties as Event_properties (``latest_event_properties``).
"""

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connections
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import ExtractDay, ExtractMonth, RowNumber
from django.db.models.lookups import Exact
from django.utils import timezone

from campaigns.models import Profile, ProfileEvent
from campaigns.segments import rules
from campaigns.segments.conditions import PropertyFilter
from campaigns.segments.properties import PropertyMatches

# Rows per fetch when streaming members: memory stays flat however large the segment.
CHUNK = 2000


@dataclass(frozen=True)
class Clock:
    now: datetime
    rule: rules.BaseRule
    using: str = "default"

    @property
    def today(self) -> date:
        return self.now.astimezone(self.rule.zone).date()

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self.rule.zone)


def members(rule: rules.Rule, now: datetime | None = None, using: str = "default") -> QuerySet:
    """The profiles the rule selects, as a queryset (not yet run)."""
    clock = Clock(now or timezone.now(), rule, using)
    profiles = Profile.objects.using(using).filter(
        *[PropertyMatches("properties", f) for f in rule.profile]
    )
    return profiles.filter(_BUILDERS[rule.category](rule, clock))


def count(rule: rules.Rule, now: datetime | None = None, using: str = "default") -> int:
    return members(rule, now, using).count()


def sample(
    rule: rules.Rule, size: int = 10, now: datetime | None = None, using: str = "default"
) -> list[Profile]:
    # The first few by identity: a stable sample the preview does not reshuffle.
    return list(members(rule, now, using).order_by("identity")[:size])


class Snapshot:
    """A rule's members, evaluated once into a temporary table (see ``snapshot``)."""

    def __init__(self, connection, table: str, count: int):
        self._connection = connection
        self._table = table
        self.count = count

    def chunks(self, size: int = CHUNK, after: int = 0) -> Iterator[list[int]]:
        """The members' profile ids above ``after`` in ascending order, ``size`` at a
        time, from a server-side cursor (a run resumes after the last id it wrote)."""
        with self._connection.chunked_cursor() as cursor:
            cursor.execute(f"SELECT id FROM {self._table} WHERE id > %s ORDER BY id", [after])
            while rows := cursor.fetchmany(size):
                yield [row[0] for row in rows]

    def profile_chunks(
        self, select: str, params: list, size: int = CHUNK, after: int = 0
    ) -> Iterator[list[tuple]]:
        """Rows of ``(id, <select>)`` for the members above ``after``, ascending, where
        ``select`` reads the profile as ``p``. A profile deleted since is left out."""
        profiles = Profile._meta.db_table
        sql = (
            f"SELECT m.id, {select} FROM {self._table} m JOIN {profiles} p ON p.id = m.id "
            "WHERE m.id > %s ORDER BY m.id"
        )
        with self._connection.chunked_cursor() as cursor:
            cursor.execute(sql, [*params, after])
            while rows := cursor.fetchmany(size):
                yield rows


@contextmanager
def snapshot(
    rule: rules.Rule, now: datetime | None = None, using: str = "default"
) -> Iterator[Snapshot]:
    """Evaluate the rule once, writing the member ids to a temporary table.

    The count and the ids streamed are then the same set, however the events change
    meanwhile; and PostgreSQL may run the evaluation in parallel, which it never does for
    a cursor over the query itself (a cursor is also planned for its first rows: merge
    joins along whole indexes, many times slower to read to the end). Memory stays flat:
    the ids are read back a chunk at a time. The table is dropped on the way out.
    """
    connection = connections[using]
    table = f"segment_members_{uuid.uuid4().hex[:16]}"
    sql, params = members(rule, now, using).order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {table} AS {sql}", params)
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        (count,) = cursor.fetchone()
    try:
        yield Snapshot(connection, table, count)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def stream_ids(
    rule: rules.Rule, now: datetime | None = None, using: str = "default", chunk: int = CHUNK
) -> Iterator[list[int]]:
    """The members' profile ids in chunks (from one ``snapshot``)."""
    with snapshot(rule, now, using) as members_now:
        yield from members_now.chunks(chunk)


def qualifying_events(
    rule: rules.Rule, now: datetime | None = None, using: str = "default"
) -> QuerySet | None:
    """The events (of any profile) that put a profile in the rule's audience: its action
    in the rule's window, matching the action's conditions; with several actions, any of
    them; for the inaction categories, only the actions the missing event did not
    follow. None when the rule is not built on an action done (a date property, profile
    properties alone, or an action not performed)."""
    events = _QUALIFYING.get(rule.category)
    if events is None:
        return None
    return events(rule, Clock(now or timezone.now(), rule, using))


def latest_event_properties(
    rule: rules.Rule,
    profile_ids: Iterable[int],
    now: datetime | None = None,
    using: str = "default",
) -> dict[int, dict]:
    """The properties of each profile's latest qualifying event (``qualifying_events``),
    by profile id, in one query for all of ``profile_ids``; none for a rule not built on
    an action, or a profile without such an event (no longer a member)."""
    events = qualifying_events(rule, now, using)
    if events is None:
        return {}
    events = events.using(using).filter(profile_id__in=list(profile_ids))
    # Of two events at the same time, the one written last.
    if connections[using].vendor == "postgresql":
        latest = events.order_by("profile_id", "-occurred_at", "-pk").distinct("profile_id")
    else:  # SQLite has no DISTINCT ON: the first row of each profile's window.
        latest = events.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("profile_id")],
                order_by=[F("occurred_at").desc(), F("pk").desc()],
            )
        ).filter(rank=1)
    return {
        pk: properties or {} for pk, properties in latest.values_list("profile_id", "properties")
    }


def latest_event_select(
    rule: rules.Rule, profile_sql: str, now: datetime | None = None
) -> tuple[str, list] | None:
    """``latest_event_properties`` of one profile as a scalar subquery (SQL and its
    parameters), for a query that builds payloads in SQL: ``profile_sql`` is the
    enclosing query's profile id (``"p.id"``). None for a rule not built on an action.

    Each row's answer is one backward read of the profile's events in
    ``profile_event_profile`` (its name and time), within the one query that streams the
    members: no query per profile, and nothing read for a profile beyond its own events.
    """
    events = qualifying_events(rule, now)
    if events is None:
        return None
    latest = events.filter(profile_id=RawSQL(profile_sql, []))
    latest = latest.order_by("-occurred_at", "-pk").values("properties")[:1]
    sql, params = latest.query.sql_with_params()
    return f"({sql})", list(params)


def _events(action: rules.Action, *conditions: Q) -> QuerySet:
    """The events of ``action``, of any profile."""
    return ProfileEvent.objects.filter(
        *[PropertyMatches("properties", f) for f in action.where], *conditions, name=action.event
    )


def _did(action: rules.Action, *conditions: Q, profile=None) -> QuerySet:
    """The events of ``action`` of the outer profile (or of ``profile``)."""
    return _events(action, *conditions).filter(
        profile=profile if profile is not None else OuterRef("pk")
    )


def _of_member(events: QuerySet) -> Q:
    """The outer profile has one of ``events``."""
    return Q(Exists(events.filter(profile=OuterRef("pk"))))


def _window(window: rules.Window, clock: Clock) -> Q:
    if window.kind == "between":
        end = Q(occurred_at__lt=clock.midnight(window.end + timedelta(days=1)))
        return _since(window, clock) & end
    return _since(window, clock)


def _since(window: rules.Window, clock: Clock) -> Q:
    """From the window's start on (no end)."""
    if window.kind == "last_days":
        return Q(occurred_at__gte=clock.now - timedelta(days=window.days))
    if window.kind == "between":
        return Q(occurred_at__gte=clock.midnight(window.start))
    return Q()


def _single_action_events(rule: rules.SingleAction, clock: Clock) -> QuerySet:
    return _events(rule.action, _window(rule.window, clock))


def _single_action(rule: rules.SingleAction, clock: Clock) -> Q:
    return _of_member(_single_action_events(rule, clock))


def _actions_events(rule: rules.Actions, clock: Clock) -> QuerySet:
    """Any of the actions (a member did every one of them)."""
    each = Q()
    for action in rule.actions:
        each |= Q(*[PropertyMatches("properties", f) for f in action.where], name=action.event)
    return ProfileEvent.objects.filter(each, _window(rule.window, clock))


def _actions(rule: rules.Actions, clock: Clock) -> Q:
    window = _window(rule.window, clock)
    return Q(*[Exists(_did(action, window)) for action in rule.actions])


def _inaction_within_time_events(rule: rules.InactionWithinTime, clock: Clock) -> QuerySet:
    within = rule.within.delta
    missing = _did(
        rule.missing,
        Q(occurred_at__gt=OuterRef("occurred_at")),
        Q(occurred_at__lte=OuterRef("occurred_at") + within),
        # Implied (it is after an action in the window), and said outright so that only
        # this stretch of the missing event's index is read, not all its history.
        _since(rule.window, clock),
        profile=OuterRef("profile"),
    )
    # Only actions whose waiting time is over: until then the user may still act.
    action = _events(
        rule.action, _window(rule.window, clock), Q(occurred_at__lte=clock.now - within)
    )
    return action.filter(~Exists(missing))


def _inaction_within_time(rule: rules.InactionWithinTime, clock: Clock) -> Q:
    return _of_member(_inaction_within_time_events(rule, clock))


def _inaction_events(rule: rules.Inaction, clock: Clock) -> QuerySet:
    missing = _did(
        rule.missing,
        Q(occurred_at__gt=OuterRef("occurred_at")),
        _since(rule.window, clock),  # implied, and it bounds the scan (as above)
        profile=OuterRef("profile"),
    )
    return _events(rule.action, _window(rule.window, clock)).filter(~Exists(missing))


def _inaction(rule: rules.Inaction, clock: Clock) -> Q:
    return _of_member(_inaction_events(rule, clock))


def _date_property(rule: rules.DateProperty, clock: Clock) -> Q:
    condition = rule.date
    today = clock.today
    if condition.source == "event" and not condition.property:
        return Q(Exists(_did(rules.Action(event=condition.event), _event_time(condition, clock))))
    # A date held in a property: compare its "YYYY-MM-DD" (the date as written).
    target = {
        "days_ago": ("eq", today - timedelta(days=condition.days or 0)),
        "at_least_days_ago": ("lte", today - timedelta(days=condition.days or 0)),
        "today": ("eq", today),
    }.get(condition.when)
    if target:
        op, day = target
        match = PropertyFilter(
            property=condition.property, op=op, value=day.isoformat(), type="date"
        )
    else:  # The anniversary: "YYYY-MM-DD" holds "-MM-DD" only as its month and day.
        match = PropertyFilter(
            property=condition.property,
            op="contains",
            value=f"-{today:%m-%d}",
            type="text",
        )
    if condition.source == "profile":
        return Q(PropertyMatches("properties", match)) & _is_date(condition.property, "properties")
    event = rules.Action(event=condition.event, where=[match])
    return Q(Exists(_did(event, _is_date(condition.property, "properties"))))


def _is_date(name: str, column: str) -> Q:
    return Q(
        PropertyMatches(
            column,
            PropertyFilter(property=name, op="gte", value="0001-01-01", type="date"),
        )
    )


def _event_time(condition: rules.DateCondition, clock: Clock) -> Q:
    today = clock.today
    if condition.when == "anniversary":  # Today's month and day in an earlier year.
        zone = clock.rule.zone
        return Q(
            Exact(ExtractMonth("occurred_at", tzinfo=zone), today.month),
            Exact(ExtractDay("occurred_at", tzinfo=zone), today.day),
            occurred_at__lt=clock.midnight(today),
        )
    day = today - timedelta(days=condition.days or 0)
    if condition.when == "at_least_days_ago":
        return Q(occurred_at__lt=clock.midnight(day + timedelta(days=1)))
    return Q(
        occurred_at__gte=clock.midnight(day),
        occurred_at__lt=clock.midnight(day + timedelta(days=1)),
    )


def _user_properties_events(rule: rules.UserProperties, clock: Clock) -> QuerySet | None:
    """The action done, if the rule asks for one (not one not done)."""
    if rule.action is None or not rule.performed:
        return None
    return _events(rule.action, _window(rule.window, clock))


def _user_properties(rule: rules.UserProperties, clock: Clock) -> Q:
    if rule.action is None:
        return Q()
    did = Exists(_did(rule.action, _window(rule.window, clock)))
    return Q(did) if rule.performed else ~Q(did)


_BUILDERS = {
    "single_action": _single_action,
    "actions": _actions,
    "inaction_within_time": _inaction_within_time,
    "inaction": _inaction,
    "date_property": _date_property,
    "user_properties": _user_properties,
}
# Each action category's qualifying events (``qualifying_events``); a date property is
# not an action, so it has none.
_QUALIFYING = {
    "single_action": _single_action_events,
    "actions": _actions_events,
    "inaction_within_time": _inaction_within_time_events,
    "inaction": _inaction_events,
    "user_properties": _user_properties_events,
}
