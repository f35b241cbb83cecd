"""The automatic retry policy: exponential backoff with jitter inside a window.

Shared by the sender (deliveries/retry.py) and the Settings page preview.
"""

from webhooks.models import SystemSettings, Webhook

# Jitter only shortens a wait (by up to this share), so the last retry stays inside the
# window and failed deliveries of one outage do not all come back at the same instant.
JITTER = 0.2


def policy(webhook: Webhook, system: SystemSettings) -> tuple[int, int]:
    """(max automatic retries, window in seconds) for ``webhook``, its own or the default."""
    retries = webhook.max_retries if webhook.max_retries is not None else system.max_retries
    window = webhook.retry_window_seconds or system.retry_window_seconds
    return retries, window


def schedule(retries: int, window: int) -> list[float]:
    """Nominal wait before each retry: retry n waits ``window * 2**(n-1) / (2**retries - 1)``
    seconds, so the waits double and add up to ``window``."""
    if retries <= 0:
        return []
    unit = window / (2**retries - 1)
    return [unit * 2**n for n in range(retries)]
