"""A sent campaign at scale, for ``manage.py bench_stats --campaign`` (PostgreSQL only).

    python manage.py shell -c "from campaigns.stats import bench; bench.seed()"

On the data of ``seed_audience`` (at least ``profiles`` profiles) and ``seed_deliveries``
(its webhooks), ``seed()`` writes a recurring campaign whose four weekly runs went to
``profiles`` recipients in all (a share held back as control), in payloads of 100, and
the history of sending them: attempts with retries and every kind of error, added to the
rollups as the engine adds them. The goal is "Charged" within 7 days. A campaign of the
same name from an earlier call is deleted first.
"""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, CampaignStatus, DeliveryType, Profile
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus, FailureReason
from deliveries.stats.rollups import add_attempts
from webhooks.models import Webhook

NAME = "bench_campaign_stats"
RUNS = 4
BATCH = 100
# What became of each payload: (weight, attempts as (code, reason, ms) tuples).
FATES = [
    (930, [(200, "", None)]),
    (30, [(503, FailureReason.HTTP_ERROR, None), (200, "", None)]),
    (8, [(None, FailureReason.CONNECTION_REFUSED, 2), (200, "", None)]),
    (10, [(None, FailureReason.TIMEOUT, 10_000)] * 4),
    (8, [(404, FailureReason.HTTP_ERROR, None)] * 4),
    (6, [(None, FailureReason.DNS_ERROR, 30)] * 4),
    (4, [(None, FailureReason.INVALID_URL, 0)]),
    (4, [(None, "template_error", 0)]),
]
RETRY_DELAYS = [timedelta(0), timedelta(minutes=2), timedelta(minutes=8), timedelta(minutes=30)]


class SeedError(Exception):
    pass


@dataclass
class Seeded:
    campaign: Campaign
    recipients: int
    deliveries: int
    attempts: int


def seed(profiles: int = 1_000_000, control_percent: int = 10, random_seed: int = 1) -> Seeded:
    """Write the campaign, its runs, recipients, deliveries and attempts; return them."""
    if connection.vendor != "postgresql":
        raise SeedError("bench.seed writes with COPY: PostgreSQL only")
    rng = random.Random(random_seed)
    ids = list(Profile.objects.order_by("id").values_list("id", flat=True)[:profiles])
    if len(ids) < profiles:
        raise SeedError(f"only {len(ids):,} profiles: run seed_audience first")
    webhook = Webhook.objects.order_by("id").first()
    if webhook is None:
        raise SeedError("no webhook: run seed_deliveries first")
    now = timezone.now()
    with transaction.atomic():
        _delete_earlier()
        campaign = Campaign.objects.create(
            name=NAME,
            status=CampaignStatus.COMPLETED,
            delivery_type=DeliveryType.RECURRING,
            recurrence={"every": "weekly", "at": "10:00", "weekday": now.weekday()},
            webhook=webhook,
            goal_event="Charged",
            goal_window_days=7,
            control_percent=control_percent,
            published_at=now - timedelta(days=7 * RUNS, hours=1),
        )
        share = len(ids) // RUNS
        deliveries = attempts = 0
        for number in range(RUNS):
            started = now - timedelta(days=7 * (RUNS - number))
            members = ids[number * share : (number + 1) * share if number < RUNS - 1 else None]
            written = _run(rng, campaign, number, started, members, control_percent)
            deliveries += written[0]
            attempts += written[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE campaigns_campaignrecipient, campaigns_campaignrun, deliveries_delivery"
        )
    return Seeded(campaign, len(ids), deliveries, attempts)


def _delete_earlier() -> None:
    ours = "SELECT id FROM campaigns_campaign WHERE name = %s"
    with connection.cursor() as cursor:
        for sql in (
            "DELETE FROM campaigns_campaignrecipient WHERE run_id IN "
            f"(SELECT id FROM campaigns_campaignrun WHERE campaign_id IN ({ours}))",
            "DELETE FROM deliveries_deliveryattempt WHERE delivery_id IN "
            f"(SELECT id FROM deliveries_delivery WHERE campaign_id IN ({ours}))",
            f"DELETE FROM deliveries_attemptrollup WHERE campaign_id IN ({ours})",
            f"DELETE FROM deliveries_dailyattemptrollup WHERE campaign_id IN ({ours})",
            f"DELETE FROM deliveries_delivery WHERE campaign_id IN ({ours})",
        ):
            cursor.execute(sql, [NAME])
    Campaign.objects.filter(name=NAME).delete()


def _in_control(campaign_id: int, profile_id: int, percent: int) -> bool:
    return (profile_id * 2654435761 + campaign_id) % 100 < percent


def _run(rng, campaign, number, started, members, control_percent) -> tuple[int, int]:
    control = [pk for pk in members if _in_control(campaign.pk, pk, control_percent)]
    held = set(control)
    targets = [pk for pk in members if pk not in held]
    batches = [targets[i : i + BATCH] for i in range(0, len(targets), BATCH)]
    run = CampaignRun.objects.create(
        campaign=campaign,
        occurrence=f"{started:%Y-%m-%dT%H:%M}",
        status="completed",
        members=len(members),
        streamed=len(members),
        targets=len(targets),
        control=len(control),
        payloads=len(batches),
        cursor=members[-1],
        started_at=started,
        finished_at=started + timedelta(minutes=2),
    )
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
            [len(batches)],
        )
        delivery_ids = [row[0] for row in cursor.fetchall()]
        histories = [
            (delivery_id, started + timedelta(seconds=index * 0.01), _fate(rng))
            for index, delivery_id in enumerate(delivery_ids)
        ]
        columns = (
            "id, webhook_id, source, campaign_id, category, payload, status, attempt_count, "
            "last_attempt_at, last_response_code, last_failure_reason, created_at, updated_at"
        )
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for delivery_id, created, fate in histories:
                code, reason, _ = fate[-1]
                copy.write_row(
                    (
                        delivery_id,
                        campaign.webhook_id,
                        "campaign",
                        campaign.pk,
                        "Campaign",
                        json.dumps({"targetId": campaign.pk, "run": number}),
                        DeliveryStatus.SUCCESS if code == 200 else DeliveryStatus.FAILED,
                        len(fate),
                        created + RETRY_DELAYS[len(fate) - 1],
                        code,
                        reason,
                        created,
                        created + RETRY_DELAYS[len(fate) - 1],
                    )
                )
        recipients = "campaigns_campaignrecipient (run_id, profile_id, control, delivery_id)"
        with cursor.cursor.copy(f"COPY {recipients} FROM STDIN") as copy:
            for delivery_id, batch in zip(delivery_ids, batches, strict=True):
                for profile_id in batch:
                    copy.write_row((run.pk, profile_id, False, delivery_id))
            for profile_id in control:
                copy.write_row((run.pk, profile_id, True, None))
    attempts = list(_attempts(rng, campaign, histories))
    for chunk in range(0, len(attempts), 5000):
        written = DeliveryAttempt.objects.bulk_create(attempts[chunk : chunk + 5000])
        add_attempts(written)
    return len(batches), len(attempts)


def _fate(rng) -> list:
    return rng.choices([f for _, f in FATES], weights=[w for w, _ in FATES])[0]


def _attempts(rng, campaign, histories) -> Iterator[DeliveryAttempt]:
    for delivery_id, created, fate in histories:
        delivery = Delivery(pk=delivery_id, webhook_id=campaign.webhook_id, campaign=campaign)
        for number, (code, reason, ms) in enumerate(fate, start=1):
            at: datetime = created + RETRY_DELAYS[number - 1]
            yield DeliveryAttempt(
                delivery=delivery,
                webhook_id=campaign.webhook_id,
                number=number,
                attempted_at=at,
                request_url=campaign.webhook.url,
                success=code == 200,
                response_code=code,
                duration_ms=ms if ms is not None else int(rng.lognormvariate(4.6, 0.6)),
                failure_reason=reason,
            )
