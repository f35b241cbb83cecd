"""Bulk recovery: retry every failed delivery matching the log's filters, in the background.

The job remembers the filters as a query string and walks the matching failed deliveries
by id, a batch at a time, recording where it got to, so a restarted task resumes instead of
starting over. Each send is a manual attempt by the admin who started the job.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone
from django.utils.text import Truncator

from deliveries.engine import claim, send_batch
from deliveries.log.filtersets import DeliveryFilterSet
from deliveries.models import BulkRetry, Delivery, DeliveryStatus, Trigger
from webhooks.models import ActivityEntry

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
    """Work through the job's deliveries in batches until none is left."""
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
        # A delivery retried meanwhile is no longer failed, and is skipped.
        deliveries = claim(Delivery.objects.filter(id__in=ids, status=DeliveryStatus.FAILED))
        succeeded = send_batch(deliveries, Trigger.MANUAL, job.created_by) if deliveries else 0
        job.cursor_id = ids[-1]
        BulkRetry.objects.filter(pk=job.pk).update(
            cursor_id=job.cursor_id,
            sent=F("sent") + len(deliveries),
            succeeded=F("succeeded") + succeeded,
            failed=F("failed") + len(deliveries) - succeeded,
        )
    job.refresh_from_db()
    # Deliveries no longer failed when the walk reached them dropped out of the query.
    job.skipped = max(job.total - job.sent, job.skipped)
    job.status, job.finished_at = BulkRetry.Status.DONE, timezone.now()
    job.save(update_fields=["skipped", "status", "finished_at"])
    ActivityEntry.record(
        "retry.bulk",
        f"Bulk retry #{job.pk} finished: {job.succeeded} succeeded, {job.failed} failed"
        + (f", {job.skipped} skipped" if job.skipped else ""),
        job.created_by,
        count=job.sent,
    )
