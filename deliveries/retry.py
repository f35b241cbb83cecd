"""The automatic retry policy: exponential backoff with jitter inside a window."""

import random
from datetime import timedelta

from webhooks.models import SystemSettings, Webhook

JITTER = 0.2


def policy(webhook: Webhook, system: SystemSettings) -> tuple[int, int]:
    """(max automatic retries, window in seconds) for ``webhook``, its own or the default."""
    retries = webhook.max_retries if webhook.max_retries is not None else system.max_retries
    window = webhook.retry_window_seconds or system.retry_window_seconds
    return retries, window


def schedule(retries: int, window: int) -> list[float]:
    """Nominal delay before each retry: doubling, and adding up to ``window``."""
    if retries <= 0:
        return []
    unit = window / (2**retries - 1)
    return [unit * 2**n for n in range(retries)]


def next_delay(webhook: Webhook, system: SystemSettings, retries_done: int) -> timedelta | None:
    """How long to wait before the next automatic retry, or None when none is left.

    Jitter only shortens a delay, so the last retry still falls inside the window.
    """
    delays = schedule(*policy(webhook, system))
    if retries_done >= len(delays):
        return None
    return timedelta(seconds=delays[retries_done] * random.uniform(1 - JITTER, 1))
