"""The automatic retry policy: exponential backoff or a fixed interval, with jitter, inside
a window.

Shared by the sender (deliveries/engine/retry.py) and the Settings page preview
(``retry_schedule``).
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from webhooks.models import MAX_RETRIES, RetryStrategy, SystemSettings, Webhook

# Jitter only shortens a wait (by up to this share), so the last retry stays inside the
# window and failed deliveries of one outage do not all come back at the same instant.
JITTER = 0.2


def policy(webhook: Webhook, system: SystemSettings) -> tuple[int, int, str]:
    """(max automatic retries, window in seconds, strategy) for ``webhook``, each its own
    or the default."""
    retries = webhook.max_retries if webhook.max_retries is not None else system.max_retries
    window = webhook.retry_window_seconds or system.retry_window_seconds
    strategy = webhook.retry_strategy or system.retry_strategy
    return retries, window, strategy


def schedule(retries: int, window: int, strategy: str = RetryStrategy.EXPONENTIAL) -> list[float]:
    """Nominal wait before each retry, the waits adding up to ``window``: equal ones for a
    fixed interval; for exponential backoff retry n waits
    ``window * 2**(n-1) / (2**retries - 1)`` seconds, so each wait doubles."""
    if retries <= 0:
        return []
    if strategy == RetryStrategy.FIXED:
        return [window / retries] * retries
    unit = window / (2**retries - 1)
    return [unit * 2**n for n in range(retries)]


def validate_policy(retries: int | None, strategy: str) -> None:
    """Refuse more retries than the strategy can space sensibly (``MAX_RETRIES``)."""
    strategy = RetryStrategy(strategy or RetryStrategy.EXPONENTIAL)
    limit = MAX_RETRIES[strategy]
    if retries is None or retries <= limit:
        return
    message = f"With {strategy.label.lower()}, at most {limit} retries."
    if strategy == RetryStrategy.EXPONENTIAL:
        message += " For more, choose a fixed interval."
    raise ValidationError({"max_retries": message})


def format_duration(seconds: float) -> str:
    """A short human reading of a duration: ``4.3 s``, ``17 min 4 s``, ``2 h 5 min``, ``3 d``."""
    if seconds < 0.1:
        return "<0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = round(seconds)
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if whole >= size:
            big, rest = divmod(whole, size)
            small = rest // smaller_size
            return f"{big} {unit} {small} {smaller}" if small else f"{big} {unit}"
    return f"{whole} s"


@dataclass(frozen=True)
class ScheduledRetry:
    number: int
    wait: float
    earliest: float
    latest: float
    elapsed: float

    @property
    def wait_text(self) -> str:
        return format_duration(self.wait)

    @property
    def jitter_text(self) -> str:
        return f"{format_duration(self.earliest)} – {format_duration(self.latest)}"

    @property
    def elapsed_text(self) -> str:
        return format_duration(self.elapsed)


def retry_schedule(
    max_retries: int, window_seconds: int, strategy: str = RetryStrategy.EXPONENTIAL
) -> list[ScheduledRetry]:
    """The automatic retries the settings produce, for the preview on the Settings page.
    ``elapsed`` is the time from the first failure, without jitter."""
    retries, elapsed = [], 0.0
    for number, wait in enumerate(schedule(max_retries, window_seconds, strategy), start=1):
        elapsed += wait
        retries.append(
            ScheduledRetry(
                number=number,
                wait=wait,
                earliest=wait * (1 - JITTER),
                latest=wait,
                elapsed=elapsed,
            )
        )
    return retries
