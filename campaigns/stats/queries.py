"""A campaign's audience figures, read from its runs and recipients: who was targeted,
who was held back as control, whose payload was delivered, and who reached the goal.

Delivery figures (payloads, attempts, errors, trend) come from the delivery rollups
through ``deliveries.stats.queries``; nothing here reads the attempts table.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, QuerySet, Sum
from django.db.models.functions import Coalesce

from campaigns.models import Campaign, CampaignRecipient, CampaignRun, ProfileEvent
from deliveries.models import Delivery, DeliveryStatus
from deliveries.stats.windows import Window

# The longest a recipients query may take before the page says it could not count
# (a campaign of millions on a cold cache); PostgreSQL only.
QUERY_TIMEOUT_MS = 10_000


@dataclass
class Audience:
    """What the runs started in a window recorded, from their counters."""

    runs: int = 0
    members: int = 0
    targets: int = 0
    control: int = 0
    first_start: datetime | None = None
    last_start: datetime | None = None


def runs_in(campaign: Campaign, window: Window | None = None) -> QuerySet:
    """The campaign's runs started in the window (all of them without one)."""
    runs = CampaignRun.objects.filter(campaign=campaign)
    return runs.filter(window.q("started_at")) if window else runs


def audience(runs: QuerySet) -> Audience:
    """The runs' counters added up (one query)."""
    totals = runs.aggregate(
        runs=Count("id"),
        members=Coalesce(Sum("members"), 0),
        targets=Coalesce(Sum("targets"), 0),
        control=Coalesce(Sum("control"), 0),
        first_start=Min("started_at"),
        last_start=Max("started_at"),
    )
    return Audience(**totals)


def recipients(campaign: Campaign, window: Window | None, control: bool) -> QuerySet:
    """The recipients of the campaign's runs started in the window, in one group."""
    rows = CampaignRecipient.objects.filter(run__campaign=campaign, control=control)
    return rows.filter(window.q("run__started_at")) if window else rows


def reached(campaign: Campaign, window: Window | None) -> int:
    """Profiles reached: targets (not control) whose payload's delivery succeeded, by the
    delivery's status now (one query; the join to the campaign's deliveries is a hash
    join, so its cost grows with the recipients, about 0.3 s per million)."""
    delivered = Delivery.objects.filter(pk=OuterRef("delivery_id"), status=DeliveryStatus.SUCCESS)
    return recipients(campaign, window, control=False).filter(Exists(delivered)).count()


@dataclass
class Group:
    members: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.members if self.members else None

    @property
    def rate_label(self) -> str:
        return "–" if self.rate is None else f"{self.rate:.2%}"


@dataclass
class Conversions:
    """Goal conversions of the targets and the control group."""

    targets: Group
    control: Group

    @property
    def uplift(self) -> float | None:
        """(target rate - control rate) / control rate; None without a control rate to
        compare with (no control members, or none of them converted)."""
        if self.targets.rate is None or not self.control.rate:
            return None
        return (self.targets.rate - self.control.rate) / self.control.rate

    @property
    def uplift_label(self) -> str:
        """The uplift as the page shows it: +12.5%, −3.0% or n/a."""
        if self.uplift is None:
            return "n/a"
        return f"{self.uplift:+.1%}".replace("-", "−")


def converted(campaign: Campaign, window: Window | None, control: bool, runs: Audience) -> int:
    """How many of one group did the campaign's goal event within its window
    (``goal_window_days``) after their run started (one query).

    An EXISTS in the WHERE clause, so the planner picks the cheaper way at any size: an
    index probe of (profile, name, occurred_at) per recipient (a common goal event), or
    one pass over the goal's events in the runs' period, hashed by profile (a rare one:
    0.4 s for 900,000 recipients, where 900,000 probes take 1.4 s)."""
    if not runs.first_start:
        return 0
    days = timedelta(days=campaign.goal_window_days)
    start = OuterRef("run__started_at")
    goal = ProfileEvent.objects.filter(
        profile_id=OuterRef("profile_id"),
        name=campaign.goal_event,
        occurred_at__gte=start,
        occurred_at__lt=start + days,
    ).filter(
        # The runs' whole period, as constants: the events' index narrows to it.
        occurred_at__gte=runs.first_start,
        occurred_at__lt=runs.last_start + days,
    )
    return recipients(campaign, window, control).filter(Exists(goal)).count()


def conversions(campaign: Campaign, window: Window | None, runs: Audience) -> Conversions:
    """Goal conversions of the targets and the control group of the runs (two queries;
    the groups' sizes are the runs' counters). The campaign needs a goal event."""
    return Conversions(
        targets=Group(runs.targets, converted(campaign, window, False, runs)),
        control=Group(runs.control, converted(campaign, window, True, runs)),
    )


class TooSlow(Exception):
    """A query ran past ``QUERY_TIMEOUT_MS`` and was cancelled."""


def bounded(count, *args, timeout_ms: int = QUERY_TIMEOUT_MS):
    """``count(*args)`` with each of its queries cancelled after ``timeout_ms`` on
    PostgreSQL (TooSlow); elsewhere unbounded."""
    if connection.vendor != "postgresql":
        return count(*args)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), "
                "set_config('statement_timeout', %s, true)",
                [str(timeout_ms)],
            )
            (previous, _) = cursor.fetchone()
            result = count(*args)
            # Back as it was, for the rest of an enclosing transaction.
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return result
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == "57014":  # query_canceled
            raise TooSlow() from error
        raise
