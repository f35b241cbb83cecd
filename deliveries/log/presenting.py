"""How an attempt is shown: JSON pretty-printed, binary and truncated bodies said plainly.

Templates escape everything these return; nothing here marks text safe.
"""

import base64
import json
from dataclasses import dataclass

from deliveries.line_reads import head_of, is_busy
from deliveries.log.rows import head_state
from deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from webhooks.models import SystemSettings


def pretty_json(value) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    # JSON may escape a lone surrogate ("\\ud800"), which decodes to a str that cannot be
    # encoded as UTF-8: the page would fail to render. Shown as the escape it came as.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def pretty_body(text: str) -> tuple[str, bool]:
    """(body to show, whether it is JSON): JSON is pretty-printed, anything else as is."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return pretty_json(json.loads(stripped)), True
        except (ValueError, RecursionError):  # not JSON, or nested too deep to walk: raw
            pass
    return text, False


@dataclass
class AttemptView:
    attempt: DeliveryAttempt
    request_body: str
    response_body: str
    response_is_json: bool
    binary_size: int | None  # bytes, when the body is not text

    def __getattr__(self, name):
        return getattr(self.attempt, name)


def present_attempt(attempt: DeliveryAttempt) -> AttemptView:
    request_body, _ = pretty_body(attempt.request_body)
    binary_size = None
    if attempt.response_body_encoding == "base64":
        binary_size = len(base64.b64decode(attempt.response_body))
        response_body, is_json = attempt.response_body, False
    else:
        response_body, is_json = pretty_body(attempt.response_body)
    return AttemptView(attempt, request_body, response_body, is_json, binary_size)


def delivery_detail_context(delivery: Delivery) -> dict:
    """The detail view of one delivery: its attempts newest first, the latest one, and
    the payload it sends."""
    attempts = [
        present_attempt(a)
        for a in delivery.attempt_history()
        .select_related("triggered_by")
        .order_by("-number", "-id")
    ]
    payload = delivery.event.payload if delivery.event_id else delivery.payload
    head = head_of(delivery)
    if head is not None:
        head.webhook = delivery.webhook
    return {
        # Ordered delivery: what it waits behind, or whether it is a line's head to skip.
        "line_head": head,
        "line_head_state": head_state(head, lambda: SystemSettings.load().max_retries)
        if head
        else "",
        "skippable": is_busy(delivery) and delivery.status != DeliveryStatus.IN_PROGRESS,
        "delivery": delivery,
        "attempts": attempts,
        "latest": attempts[0] if attempts else None,
        "payload": pretty_json(payload),
    }
