"""Whether and when the sender tries a failed delivery again."""

import random
from datetime import timedelta

from deliveries.models import FailureReason
from webhooks.models import SystemSettings, Webhook
from webhooks.retry_policy import JITTER, policy, schedule

# Failures a retry cannot fix: the webhook's settings must change first.
PERMANENT_FAILURES = {FailureReason.INVALID_URL, FailureReason.BLOCKED_DESTINATION}


def is_permanent(failure_reason: str) -> bool:
    return failure_reason in PERMANENT_FAILURES


def next_delay(webhook: Webhook, system: SystemSettings, retries_done: int) -> timedelta | None:
    """How long to wait before the next automatic retry, or None when none is left."""
    delays = schedule(*policy(webhook, system))
    if retries_done >= len(delays):
        return None
    return timedelta(seconds=delays[retries_done] * random.uniform(1 - JITTER, 1))
