"""One HTTP try of one delivery: build the signed request, send it, classify the outcome.

Also ``fetch``, the guarded GET a campaign's linked content is read with: the same
connection pools, outbound guard, deadline and vocabulary of failures as a delivery.

Nothing here touches the database; ``claim`` and ``record`` do.
"""

import base64
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import urllib3.exceptions
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from urllib3 import HTTPResponse
from urllib3.exceptions import (
    HTTPError,
    LocationValueError,
    NameResolutionError,
    NewConnectionError,
)

from deliveries.engine.http import deadline, pool_manager
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


def build_request(
    delivery: Delivery, timestamp: int | None = None, body: bytes | None = None
) -> OutgoingRequest:
    """The signed request of ``delivery``: what ``send`` sends and ``record`` records.
    ``body`` is its ``delivery_body`` when the caller has it already."""
    webhook = delivery.webhook
    body = delivery_body(delivery) if body is None else body
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
    headers = request.headers
    if request.auth:
        headers = {**headers, "Authorization": basic_auth(*request.auth)}
    started = time.monotonic()
    with deadline(request.timeout) as limit:
        try:
            response = _open("POST", request.url, request.body, headers, request.timeout)
            result = _read_response(response)
        except (HTTPError, OSError) as error:
            reason, detail = _classify(error)
            if limit.expired:
                reason = FailureReason.TIMEOUT
                detail = f"no complete response within {request.timeout} s"
            result = AttemptResult(success=False, failure_reason=reason, failure_detail=detail)
    result.duration_ms = round((time.monotonic() - started) * 1000)
    result.started_at = started_at
    return result


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` value of HTTP basic auth (Latin-1, as browsers send it; a
    name outside it raises ``UnicodeEncodeError``)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("latin-1")).decode()


def _open(method: str, url: str, body: bytes | None, headers: dict, timeout: float):
    """Send one request (redirects not followed, no retry) and return the answer with
    its body unread: read it with ``_read_body`` inside the same ``deadline``."""
    return pool_manager().urlopen(
        method,
        url,
        body=body,
        headers=headers,
        redirect=False,
        retries=False,
        timeout=timeout,
        preload_content=False,
    )


def _read_body(response: HTTPResponse, limit: int) -> tuple[bytes, bool]:
    """(up to ``limit`` bytes of the body, whether there was more), and let go of the
    connection (``_let_go``)."""
    chunks, size, more = [], 0, False
    try:
        while chunk := response.read(16 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                more = True
                break
    finally:
        _let_go(response)
    return b"".join(chunks)[:limit], more


def _let_go(response: HTTPResponse) -> None:
    """Give the connection back to its pool: kept alive when the answer was read to its
    end, closed when bytes of it are left unread (or reading failed)."""
    if not response.isclosed():
        response.close()
    response.release_conn()


def _read_response(response: HTTPResponse) -> AttemptResult:
    raw, truncated = _read_body(response, MAX_RESPONSE_BODY)
    body, encoding = storable_body(raw)
    headers, headers_truncated = storable_headers(response.headers.items())
    success = 200 <= response.status < 300
    result = AttemptResult(
        success=success,
        response_code=response.status,
        response_headers=headers,
        response_headers_truncated=headers_truncated,
        response_body=body,
        response_body_truncated=truncated,
        response_body_encoding=encoding,
    )
    if not success:
        result.failure_reason = FailureReason.HTTP_ERROR
        result.failure_detail = f"HTTP {response.status}"
        if 300 <= response.status < 400:
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
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/*;q=0.9"}
    with deadline(timeout) as limit:
        try:
            response = _open("GET", url, None, headers, timeout)
            if not 200 <= response.status < 300:
                _let_go(response)
                raise FetchFailed(f"HTTP {response.status}")
            body, more = _read_body(response, max_bytes)
        except (HTTPError, OSError) as error:
            detail = _classify(error)[1]
            if limit.expired:
                detail = f"no complete answer within {timeout} s"
            raise FetchFailed(detail) from error
    if more:
        raise FetchFailed(f"the answer is larger than {max_bytes // 1024} KiB")
    return Fetched(response.headers.get("Content-Type", ""), body)


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
    for item in chain:
        if isinstance(item, urllib3.exceptions.SSLError | ssl.SSLError):
            return FailureReason.TLS_ERROR, short(item)
    # urllib3's NewConnectionError is a ConnectTimeoutError: ask about it first.
    if isinstance(error, NewConnectionError):
        return FailureReason.CONNECTION_ERROR, short(error)
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
        return FailureReason.TIMEOUT, "the receiver did not answer in time"
    if isinstance(error, LocationValueError):
        return FailureReason.INVALID_URL, short(error)
    return FailureReason.CONNECTION_ERROR, short(error)
