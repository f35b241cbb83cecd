"""Signatures on outgoing deliveries.

Two headers carry the same guarantee for two kinds of receiver:

- Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), which
  the public ``standardwebhooks`` libraries verify: ``v1,<base64 HMAC-SHA256>`` over
  ``"{webhook-id}.{webhook-timestamp}.{body}"``, keyed with the base64-decoded part of the
  secret after ``whsec_``.
- ``X-Webhook-Signature: t=<timestamp>,v1=<hex HMAC-SHA256>``, over
  ``"{timestamp}.{body}"``, keyed with the whole secret string (``whsec_...``) as UTF-8,
  for receivers that verify by hand.

While a rotated secret overlaps, each header carries one signature per secret (space-
separated in ``webhook-signature``, repeated ``v1=`` in ``X-Webhook-Signature``); a
receiver accepts the delivery if any of them matches.
"""

import base64
import hashlib
import hmac

from webhooks.models import SECRET_PREFIX


def _standard_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def portal_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_headers(
    secrets: list[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The signature headers of one request, signed with every secret in ``secrets``."""
    portal = ",".join(f"v1={portal_signature(s, timestamp, body)}" for s in secrets)
    return {
        "X-Webhook-Signature": f"t={timestamp},{portal}",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(s, message_id, timestamp, body) for s in secrets
        ),
    }
