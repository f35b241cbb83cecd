"""The worker's loop: send what is due, batch after batch, and the periodic safety net.

A broker message is only a wake-up call: the delivery rows are the truth, so a lost
message delays work but never loses it.
"""

import logging
import math
import time

from django.conf import settings
from django.utils import timezone

from deliveries.engine import wakeups
from deliveries.engine.batches import Sending
from deliveries.engine.fair import claim_fair, sendable_webhooks
from deliveries.models import Delivery
from webhooks.models import Health

logger = logging.getLogger(__name__)


def drain(time_budget: float | None = None) -> tuple[int, bool]:
    """Keep the sending threads busy with due work until none is due or the time budget
    is spent. Returns how many were claimed, and whether the budget ran out with work
    possibly left (the caller hands over to a new drain, so other tasks get a turn).

    Up to twice as many deliveries as threads are claimed at a time (a short queue keeps
    the threads fed while the loop records and claims), so a send that hangs holds one
    thread, never the worker. A claim runs when half the threads' worth is free and
    either the last claim got all it asked for or that many sends finished since (their
    endpoints' slots are free again), and at least every ``IDLE_CLAIM_SECONDS``.
    """
    budget = settings.DELIVERIES_DRAIN_SECONDS if time_budget is None else time_budget
    depth = 2 * settings.DELIVERIES_SEND_CONCURRENCY
    refill = max(1, settings.DELIVERIES_SEND_CONCURRENCY // 2)
    started, total = time.monotonic(), 0
    sending = Sending(background=True)
    last_claim, got_all, finished = 0.0, True, 0
    came_up_empty = last = False
    # The endpoints with due work, reused for IDLE_CLAIM_SECONDS: one query fewer a claim.
    endpoints, endpoints_at = [], 0.0
    try:
        while True:
            now = time.monotonic()
            out_of_time = now - started > budget
            free = depth - len(sending)
            worth_it = got_all or finished >= refill or now - last_claim >= IDLE_CLAIM_SECONDS
            if not out_of_time and (not sending or (free >= refill and worth_it)):
                sending.wait_for_lines()
                # The last claim: a claim came up empty and nothing is in flight. Before
                # it the flag is cleared, so what commits after it wakes a new drain; before
                # every other claim it is held, since this drain claims again and takes
                # what commits meanwhile: emits need not wake anyone (wakeups.py).
                last = not sending and came_up_empty
                if last:
                    wakeups.clear()
                else:
                    wakeups.hold()
                # Fresh endpoints for the last claim: the list may miss an endpoint whose
                # delivery committed while the flag was held.
                if last or not endpoints or now - endpoints_at >= IDLE_CLAIM_SECONDS:
                    endpoints, endpoints_at = sendable_webhooks(timezone.now()), now
                claimed = claim_fair(free, endpoints)
                sending.submit(claimed.deliveries, claimed.slots)
                total += len(claimed.deliveries)
                last_claim, finished = now, 0
                came_up_empty = not claimed.deliveries
                got_all = bool(claimed.deliveries) and len(claimed.deliveries) == free
                if got_all:
                    wakeups.help_with_backlog()  # there may be a backlog: let another help
                if not sending and claimed.rate_limited:
                    time.sleep(IDLE_CLAIM_SECONDS)  # a rate limit's next tokens are near
                    continue
            if not sending:
                if out_of_time or (last and came_up_empty):
                    break
                continue  # nothing came: claim once more, the last claim
            # Wake up now and then even if every send hangs: work for other endpoints (or
            # tokens of a rate limit) may have come meanwhile.
            in_flight = len(sending)
            sending.record_finished(timeout=IDLE_CLAIM_SECONDS)
            finished += in_flight - len(sending)
    finally:
        sending.close()  # write every result before returning
    # Retries scheduled for later are found by dispatch_due when they fall due.
    return total, bool(total) and out_of_time


IDLE_CLAIM_SECONDS = 0.25


def drains_needed() -> tuple[int, int]:
    """How many deliveries are due now and may be sent (new, retries, leases run out, and
    a failing endpoint's probe), and how many drains to start for them: one per batch, at
    most ``DELIVERIES_MAX_DRAINS``. Deliveries of failing and disabled endpoints wait."""
    now = timezone.now()
    due = Delivery.objects.due(now).filter(webhook__health=Health.HEALTHY).count()
    due += len(sendable_webhooks(now, health=Health.FAILING))
    drains = min(math.ceil(due / settings.DELIVERIES_BATCH_SIZE), settings.DELIVERIES_MAX_DRAINS)
    if due:
        logger.info("dispatch_due: %s due, starting %s drains", due, drains)
    return due, drains
