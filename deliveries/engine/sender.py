"""One HTTP try of one delivery: build the signed request, send it, classify the outcome.

Also ``fetch``, the guarded GET a campaign's linked content is read with: the same
session, outbound guard, deadline and vocabulary of failures as a delivery.

Nothing here touches the database; ``claim`` and ``record`` do.
"""

import json
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from urllib3.exceptions import NameResolutionError

from deliveries.engine.http import deadline, thread_session
from deliveries.engine.storable import MAX_RESPONSE_BODY, short, storable_body, storable_headers
from deliveries.models import Delivery, FailureReason, Source
from webhooks.destinations import BlockedDestination, url_problem
from webhooks.headers import is_credential
from webhooks.signing import signature_headers

USER_AGENT = "WebhookPortal/1.0 (webhook delivery)"
REDACTED = "[redacted]"
TEST_HEADER = "X-Webhook-Test"  # README, "What a receiver gets"


@dataclass
class OutgoingRequest:
    url: str
    body: bytes
    headers: dict[str, str]
    # What the attempt records: the same headers with credentials redacted.
    recorded_headers: dict[str, str]
    timeout: float
    auth: tuple[str, str] | None = None
    # (reason, detail) when there is nothing to send: the attempt fails without a request.
    refused: tuple[str, str] | None = None


@dataclass
class AttemptResult:
    success: bool
    started_at: datetime | None = None
    response_code: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_headers_truncated: bool = False
    response_body: str = ""
    response_body_truncated: bool = False
    response_body_encoding: str = "text"
    duration_ms: int = 0
    failure_reason: str = ""
    failure_detail: str = ""


# Failures of a campaign body built at fan-out: such a delivery has no body to send.
CONTENT_FAILURES = {FailureReason.TEMPLATE_ERROR, FailureReason.LINKED_CONTENT_ERROR}


def delivery_body(delivery: Delivery) -> bytes:
    """The bytes sent: the event in an envelope, a campaign's own payload, or the body a
    campaign's template rendered (a string payload), exactly as rendered."""
    if isinstance(delivery.payload, str) and delivery.event_id is None:
        return delivery.payload.encode()
    if delivery.event_id is None:
        document = delivery.payload
    else:
        event = delivery.event
        document = {
            "id": f"evt_{event.pk}",
            "type": delivery.event_type.name if delivery.event_type else "",
            "occurred_at": event.occurred_at,
            "data": event.payload,
        }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def url_with_query(url: str, query: str) -> str:
    """``url`` with the urlencoded ``query`` appended to its own query, if any."""
    if not query:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # the send reports the URL as invalid
        return url
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=joined))


def build_request(delivery: Delivery, timestamp: int | None = None) -> OutgoingRequest:
    """The signed request of ``delivery``: what ``send`` sends and ``record`` records."""
    webhook = delivery.webhook
    body = delivery_body(delivery)
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": delivery.content_type,
        "User-Agent": USER_AGENT,
        "X-Webhook-Event": delivery.event_type.name if delivery.event_type else "campaign",
        **signature_headers(webhook.signing_secrets(), f"msg_{delivery.pk}", timestamp, body),
    }
    if delivery.source == Source.TEST:
        # A campaign's test send carries the campaign's real targetId: this is how a
        # receiver tells it from a real send, whatever the body (a custom body is sent
        # byte for byte, so it may carry no marker of its own).
        headers[TEST_HEADER] = "true"
    recorded = dict(headers)
    for header in webhook.custom_headers:
        headers[header["name"]] = header["value"]
        secret = header.get("secret") or is_credential(header["name"])
        recorded[header["name"]] = REDACTED if secret else header["value"]
    auth = None
    if webhook.basic_auth_username or webhook.basic_auth_password:
        auth = (webhook.basic_auth_username, webhook.basic_auth_password)
        recorded["Authorization"] = f"Basic {REDACTED}"
    refused = None
    if delivery.event_id is None and delivery.payload is None:
        # Its body could not be built at fan-out (a manual retry got here): say so again
        # rather than send "null".
        reason = delivery.last_failure_reason
        refused = (
            reason if reason in CONTENT_FAILURES else FailureReason.INTERNAL_ERROR,
            "Nothing to send: this campaign delivery's body could not be built when the "
            "campaign ran (see its first attempt).",
        )
    return OutgoingRequest(
        url=url_with_query(webhook.url, delivery.query),
        body=body,
        headers=headers,
        recorded_headers=recorded,
        timeout=webhook.timeout_seconds,
        auth=auth,
        refused=refused,
    )


def send(request: OutgoingRequest) -> AttemptResult:
    """POST ``request`` once and say how it went. Never raises: whatever goes wrong, even
    a bug of ours or a setting HTTP cannot carry, is an attempt that failed with
    ``internal_error`` and the exception in its detail."""
    started_at = timezone.now()
    try:
        return _send(request, started_at)
    except Exception as error:  # one bad attempt must never stop the batch
        return AttemptResult(
            success=False,
            started_at=started_at,
            failure_reason=FailureReason.INTERNAL_ERROR,
            failure_detail=short(f"{type(error).__name__}: {error}"),
        )


def _send(request: OutgoingRequest, started_at: datetime) -> AttemptResult:
    if request.refused:
        reason, detail = request.refused
        return AttemptResult(
            success=False, started_at=started_at, failure_reason=reason, failure_detail=detail
        )
    problem = url_problem(request.url)
    if problem:
        return AttemptResult(
            success=False,
            started_at=started_at,
            failure_reason=FailureReason.INVALID_URL,
            failure_detail=problem,
        )
    started = time.monotonic()
    with deadline(request.timeout) as limit:
        try:
            response = thread_session().post(
                request.url,
                data=request.body,
                headers=request.headers,
                auth=request.auth,
                timeout=(request.timeout, request.timeout),
                allow_redirects=False,
                stream=True,
            )
            try:
                result = _read_response(response)
            finally:
                response.close()
        except (requests.RequestException, OSError) as error:
            reason, detail = _classify(error)
            if limit.fired:
                reason = FailureReason.TIMEOUT
                detail = f"no complete response within {request.timeout} s"
            result = AttemptResult(success=False, failure_reason=reason, failure_detail=detail)
    result.duration_ms = round((time.monotonic() - started) * 1000)
    result.started_at = started_at
    return result


def _read_response(response: requests.Response) -> AttemptResult:
    chunks, size, truncated = [], 0, False
    for chunk in response.iter_content(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BODY:
            truncated = True
            break
    raw = b"".join(chunks)[:MAX_RESPONSE_BODY]
    body, encoding = storable_body(raw)
    headers, headers_truncated = storable_headers(response.raw.headers.items())
    success = 200 <= response.status_code < 300
    result = AttemptResult(
        success=success,
        response_code=response.status_code,
        response_headers=headers,
        response_headers_truncated=headers_truncated,
        response_body=body,
        response_body_truncated=truncated,
        response_body_encoding=encoding,
    )
    if not success:
        result.failure_reason = FailureReason.HTTP_ERROR
        result.failure_detail = f"HTTP {response.status_code}"
        if 300 <= response.status_code < 400:
            result.failure_detail += " (redirects are not followed)"
    return result


class FetchFailed(Exception):
    """A GET that brought back nothing usable; the message says why."""


@dataclass
class Fetched:
    content_type: str
    body: bytes


def fetch(url: str, timeout: float, max_bytes: int) -> Fetched:
    """GET ``url`` as the sender posts: through the outbound guard (a refused address is
    never connected to), no redirects, ``timeout`` seconds in all. Returns a 2xx answer
    of at most ``max_bytes``; raises ``FetchFailed`` for anything else."""
    problem = url_problem(url)
    if problem:
        raise FetchFailed(f"Invalid URL: {problem}")
    with deadline(timeout) as limit:
        try:
            response = thread_session().get(
                url,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json, text/*;q=0.9"},
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
            try:
                return _fetched(response, max_bytes)
            finally:
                response.close()
        except (requests.RequestException, OSError) as error:
            detail = _classify(error)[1]
            if limit.fired:
                detail = f"no complete answer within {timeout} s"
            raise FetchFailed(detail) from error


def _fetched(response: requests.Response, max_bytes: int) -> Fetched:
    if not 200 <= response.status_code < 300:
        raise FetchFailed(f"HTTP {response.status_code}")
    chunks, size = [], 0
    for chunk in response.iter_content(16 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise FetchFailed(f"the answer is larger than {max_bytes // 1024} KiB")
    return Fetched(response.headers.get("Content-Type", ""), b"".join(chunks))


def _classify(error: BaseException) -> tuple[str, str]:
    chain = []
    current: BaseException | None = error
    while current is not None and len(chain) < 10:
        chain.append(current)
        chain.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, BlockedDestination):
            return FailureReason.BLOCKED_DESTINATION, str(item)
    for item in chain:
        if isinstance(item, NameResolutionError | socket.gaierror):
            return FailureReason.DNS_ERROR, "the host name could not be resolved"
        if isinstance(item, ConnectionRefusedError):
            return FailureReason.CONNECTION_REFUSED, "the receiver refused the connection"
    if isinstance(error, requests.exceptions.SSLError):
        return FailureReason.TLS_ERROR, short(error)
    if isinstance(error, requests.exceptions.Timeout):
        return FailureReason.TIMEOUT, "the receiver did not answer in time"
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return FailureReason.INVALID_URL, short(error)
    return FailureReason.CONNECTION_ERROR, short(error)
