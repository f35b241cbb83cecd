"""When the sender tries a failed delivery again."""

import random
from datetime import timedelta

from webhooks.models import SystemSettings, Webhook
from webhooks.retry_policy import JITTER, policy, schedule


def next_delay(webhook: Webhook, system: SystemSettings, retries_done: int) -> timedelta | None:
    """How long to wait before the next automatic retry, or None when none is left."""
    delays = schedule(*policy(webhook, system))
    if retries_done >= len(delays):
        return None
    return timedelta(seconds=delays[retries_done] * random.uniform(1 - JITTER, 1))
