"""Send claimed deliveries concurrently from a pool of threads, recording as results come.

No batch waits for its slowest send before recording the others: results are written in
groups of ``DELIVERIES_RECORD_BATCH`` as they arrive.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed

from django.conf import settings
from django.contrib.auth import get_user_model

from deliveries.engine.claim import claim_due
from deliveries.engine.record import record
from deliveries.engine.sender import AttemptResult, OutgoingRequest, build_request, send
from deliveries.models import Delivery, DeliveryStatus, Trigger
from webhooks.models import SystemSettings

_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """One pool of sending threads per process, made on first use (after any fork)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.DELIVERIES_SEND_CONCURRENCY, thread_name_prefix="send"
        )
    return _executor


def send_due_batch(limit: int | None = None) -> int:
    """Claim one batch of due deliveries, oldest due first, and send it. Returns how many
    were claimed."""
    deliveries = claim_due(limit or settings.DELIVERIES_BATCH_SIZE)
    if deliveries:
        send_batch(deliveries)
    return len(deliveries)


def send_batch(deliveries: list[Delivery], trigger: str = Trigger.AUTOMATIC, user=None) -> int:
    """Send claimed deliveries with the thread pool and record the results as they come
    in, so a slow receiver does not hold back the record of fast ones. Returns how many
    succeeded."""
    system = SystemSettings.load()
    succeeded = 0
    pending: list[tuple[Delivery, OutgoingRequest, AttemptResult]] = []
    futures = {}
    for delivery in deliveries:
        request = build_request(delivery)
        futures[executor().submit(send, request)] = (delivery, request)
    for future in as_completed(futures):
        delivery, request = futures[future]
        result = future.result()
        succeeded += result.success
        pending.append((delivery, request, result))
        if len(pending) >= settings.DELIVERIES_RECORD_BATCH:
            record(pending, system, trigger, user)
            pending = []
    if pending:
        record(pending, system, trigger, user)
    return succeeded


def send_one(delivery_id: int, trigger: str = Trigger.MANUAL, user_id: int | None = None) -> bool:
    """Send and record one attempt of a delivery already claimed (by a manual retry).
    Returns False when there was nothing to send (a redelivered message)."""
    delivery = Delivery.objects.select_related("webhook", "event", "event_type").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.IN_PROGRESS:
        return False
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    request = build_request(delivery)
    record([(delivery, request, send(request))], SystemSettings.load(), trigger, user)
    return True
