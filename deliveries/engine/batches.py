"""Send claimed deliveries concurrently from a pool of threads, recording as results come.

Nothing waits for a batch's slowest send: each result is recorded with those that finished
about the same time (in groups of at most ``DELIVERIES_RECORD_BATCH``), and the drain
claims more work as soon as threads are free.
"""

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.conf import settings
from django.contrib.auth import get_user_model

from deliveries.engine import limits
from deliveries.engine.fair import claim_fair
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


def _send(request, slot: limits.Slot | None) -> AttemptResult:
    """Send, then give the endpoint's slot back at once (before recording): the slot
    counts requests in flight."""
    try:
        return send(request)
    finally:
        if slot is not None:
            limits.release([slot])


class Sending:
    """Sends under way in the thread pool, recorded in groups as they finish.

    Finished results wait up to ``RECORD_DELAY`` seconds (or until
    ``DELIVERIES_RECORD_BATCH`` of them have finished) to be written together: a write
    costs about the same for 1 attempt as for 50.
    """

    def __init__(self, trigger: str = Trigger.AUTOMATIC, user=None):
        self.trigger, self.user = trigger, user
        self.system = SystemSettings.load()
        self.futures = {}
        self.finished: list[tuple[Delivery, OutgoingRequest, AttemptResult]] = []
        self.first_finished_at = 0.0

    def __len__(self) -> int:
        """Sends submitted and not finished."""
        return len(self.futures)

    def submit(self, deliveries: list[Delivery], slots: dict[int, limits.Slot] | None = None):
        for delivery in deliveries:
            request = build_request(delivery)
            slot = slots.get(delivery.pk) if slots else None
            self.futures[executor().submit(_send, request, slot)] = (delivery, request)

    def record_finished(self, timeout: float | None = None) -> int:
        """Wait until a send finishes (or ``timeout``), then record what finished if enough
        did, or long enough ago, or nothing is left in flight. Returns how many of those
        recorded succeeded."""
        done, _ = wait(self.futures, timeout=timeout, return_when=FIRST_COMPLETED)
        if done and not self.finished:
            self.first_finished_at = time.monotonic()
        for future in done:
            delivery, request = self.futures.pop(future)
            self.finished.append((delivery, request, future.result()))
        if (
            not self.futures
            or len(self.finished) >= settings.DELIVERIES_RECORD_BATCH
            or time.monotonic() - self.first_finished_at >= RECORD_DELAY
        ):
            return self.flush()
        return 0

    def flush(self) -> int:
        """Record every finished send now; returns how many succeeded."""
        results, self.finished = self.finished, []
        step = settings.DELIVERIES_RECORD_BATCH
        for start in range(0, len(results), step):
            record(results[start : start + step], self.system, self.trigger, self.user)
        return sum(result.success for _, _, result in results)


RECORD_DELAY = 0.1


def send_due_batch(limit: int | None = None) -> int:
    """Claim one fair share of due deliveries, send it and record it. Returns how many
    were claimed."""
    claimed = claim_fair(limit or settings.DELIVERIES_BATCH_SIZE)
    sending = Sending()
    sending.submit(claimed.deliveries, claimed.slots)
    while sending:
        sending.record_finished()
    return len(claimed.deliveries)


def send_batch(deliveries: list[Delivery], trigger: str = Trigger.AUTOMATIC, user=None) -> int:
    """Send claimed deliveries with the thread pool and record the results as they come
    in. Returns how many succeeded."""
    sending = Sending(trigger, user)
    sending.submit(deliveries)
    succeeded = 0
    while sending:
        succeeded += sending.record_finished()
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
