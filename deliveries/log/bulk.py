"""Bulk recovery: retry every failed delivery matching the log's filters, in the background.

The job remembers the filters as a query string and walks the matching failed deliveries
by id, a batch at a time, recording where it got to, so a restarted task resumes instead of
starting over. The walk only asks the engine for the sends (``engine.retry_failed``): the
sender makes them within each endpoint's in-flight cap and rate limit, as manual attempts
by the admin who started the job. Its results are counted from its deliveries' rows while
it runs, and kept on the job once nothing of it waits (``finish_sent``, run by beat).
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.text import Truncator

from deliveries import engine
from deliveries.log.filtersets import DeliveryFilterSet
from deliveries.models import BulkRetry, Delivery, DeliveryStatus
from webhooks.models import ActivityEntry, Health

QUERY_MAX_LENGTH = BulkRetry._meta.get_field("query").max_length

# Filters that mean nothing for a bulk retry (which always takes failed deliveries).
IGNORED = ("status", "sort", "after", "before", "live")


def failed_matching(query: str):
    """The failed deliveries of active webhooks that the log's ``query`` selects.
    Raises ``ValueError`` when the filters are invalid."""
    if len(query) > QUERY_MAX_LENGTH:
        raise ValueError(
            f"These filters are too long to keep with a bulk retry ({len(query)} characters, "
            f"at most {QUERY_MAX_LENGTH}): shorten the search."
        )
    data = QueryDict(query, mutable=True)
    for name in IGNORED:
        data.pop(name, None)
    data["status"] = DeliveryStatus.FAILED
    filterset = DeliveryFilterSet(data, queryset=Delivery.objects.all())
    if not filterset.is_valid():
        raise ValueError(filterset.errors.as_text())
    # Those with a retry scheduled are left to it: the sender has not given up on them.
    return filterset.qs.filter(webhook__is_active=True, next_attempt_at__isnull=True)


def clean_query(query: str) -> str:
    data = QueryDict(query, mutable=True)
    for name in IGNORED:
        data.pop(name, None)
    return data.urlencode()


def start(query: str, user) -> BulkRetry:
    """Create the job for the failed deliveries matching ``query``; the caller queues
    ``run`` (``deliveries.log.tasks.run_bulk_retry``) once this has committed."""
    query = clean_query(query)
    matching = failed_matching(query)
    newest = matching.order_by("-id").values_list("id", flat=True).first() or 0
    with transaction.atomic():  # no job without its activity entry, none left queued
        job = BulkRetry.objects.create(
            query=query, created_by=user, total=matching.count(), max_delivery_id=newest
        )
        filters = Truncator(query or "no filters").chars(200)
        ActivityEntry.record(
            "retry.bulk",
            f"Bulk retry #{job.pk} started for {job.total} failed deliveries ({filters})",
            user,
            count=job.total,
        )
    return job


def run(job_id: int) -> None:
    """Ask for a retry of the job's deliveries, a batch at a time, until none is left."""
    job = BulkRetry.objects.select_related("created_by").get(pk=job_id)
    if job.finished_at:
        return
    BulkRetry.objects.filter(pk=job.pk).update(status=BulkRetry.Status.RUNNING)
    matching = failed_matching(job.query).filter(id__lte=job.max_delivery_id)
    while True:
        ids = list(
            matching.filter(id__gt=job.cursor_id)
            .order_by("id")
            .values_list("id", flat=True)[: settings.DELIVERIES_BATCH_SIZE]
        )
        if not ids:
            break
        job.cursor_id = ids[-1]
        with transaction.atomic():  # a restarted walk neither skips nor counts twice
            # A delivery retried meanwhile is no longer failed, and is skipped.
            asked = engine.retry_failed(ids, job.created_by, job.pk)
            BulkRetry.objects.filter(pk=job.pk).update(
                cursor_id=job.cursor_id, sent=F("sent") + asked
            )
    job.refresh_from_db()
    # Deliveries no longer failed when the walk reached them dropped out of the query.
    job.skipped = max(job.total - job.sent, job.skipped)
    job.cursor_id = job.max_delivery_id  # the walk is over
    job.save(update_fields=["skipped", "cursor_id"])
    finish_sent(job)


def with_results(job: BulkRetry) -> BulkRetry:
    """``job`` with its results so far (counted from its deliveries while it runs), and
    shown done once every delivery it asked for has been sent."""
    if job.status == BulkRetry.Status.DONE:
        return job
    counts = Delivery.objects.filter(bulk_retry=job).aggregate(
        waiting=Count("id", filter=Q(manual_requested_at__isnull=False)),
        # A failing or disabled endpoint's deliveries wait for it (its probe first).
        on_hold=Count(
            "id",
            filter=Q(manual_requested_at__isnull=False) & ~Q(webhook__health=Health.HEALTHY),
        ),
        succeeded=Count(
            "id", filter=Q(manual_requested_at__isnull=True, status=DeliveryStatus.SUCCESS)
        ),
        failed=Count(
            "id", filter=Q(manual_requested_at__isnull=True, status=DeliveryStatus.FAILED)
        ),
    )
    job.succeeded, job.failed = counts["succeeded"], counts["failed"]
    job.on_hold = counts["on_hold"]
    if job.walked and not counts["waiting"]:
        job.status = BulkRetry.Status.DONE
    return job


def finish_sent(job: BulkRetry | None = None) -> int:
    """Keep the results of ``job`` (default: of every running job) whose deliveries have
    all been sent, and mark it done. Returns how many finished."""
    jobs = [job] if job else BulkRetry.objects.filter(status=BulkRetry.Status.RUNNING)
    finished = 0
    for job in jobs:
        job = with_results(job)
        if job.status != BulkRetry.Status.DONE:
            continue
        with transaction.atomic():
            done = BulkRetry.objects.filter(pk=job.pk, finished_at__isnull=True).update(
                status=BulkRetry.Status.DONE,
                succeeded=job.succeeded,
                failed=job.failed,
                finished_at=timezone.now(),
            )
            if done:
                finished += 1
                ActivityEntry.record(
                    "retry.bulk",
                    f"Bulk retry #{job.pk} finished: {job.succeeded} succeeded, "
                    f"{job.failed} failed" + (f", {job.skipped} skipped" if job.skipped else ""),
                    job.created_by,
                    count=job.sent,
                )
    return finished
