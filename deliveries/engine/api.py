"""The events API: other systems post events here, and the portal delivers them."""

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.errors import ValidationError
from pydantic import BaseModel, ConfigDict, field_validator

from config.api import ErrorOut, HTTPValidationError
from deliveries.engine.emit import MAX_PAYLOAD_BYTES, UnknownEventType, emit
from webhooks.api_auth import ApiKeyAuth

router = Router(tags=["events"])

# Ruby's JSON parser stops at the same depth; real payloads stay far below it.
MAX_PAYLOAD_DEPTH = 100


class EventIn(BaseModel):
    # A plain pydantic model: ninja's Schema reads attributes off any object, so a body of
    # [] or 5 would only say "Field required" instead of "should be an object".
    # Unknown fields are refused, so a misspelt idempotency_key cannot pass unnoticed.
    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(
        max_length=100,
        description="The name of an event type in the catalog.",
        examples=["license.assigned"],
    )
    payload: dict[str, Any] = Field(
        description="Any JSON object; the webhooks receive it as the event's data.",
        examples=[{"license_id": 42, "user": "ada@example.com"}],
    )
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description="Send the same key again and you get the first event back "
        "instead of a new one.",
    )

    @field_validator("event_type", "payload", "idempotency_key")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # PostgreSQL refuses NUL characters and lone surrogates in text and jsonb, and
        # encoding a deeply nested payload overflows Python's stack: refuse them here so
        # the client gets a 422 rather than a 500.
        pending = [(value, 0)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, dict | list):
                if depth == MAX_PAYLOAD_DEPTH:
                    raise ValueError(f"nested deeper than {MAX_PAYLOAD_DEPTH} levels")
                children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
                pending.extend((child, depth + 1) for child in children)
            elif isinstance(item, str):
                if "\x00" in item:
                    raise ValueError("text cannot contain the NUL character (\\u0000)")
                try:
                    item.encode()
                except UnicodeEncodeError:
                    raise ValueError("text cannot contain unpaired surrogates") from None
        return value


class EventOut(Schema):
    id: int
    event_type: str
    occurred_at: datetime
    idempotency_key: str | None
    deliveries: int = Field(
        description="Deliveries of the event: one per subscribed webhook, counting those "
        "not triggered because the webhook is disabled."
    )
    duplicate: bool = Field(
        description="True when the idempotency key was seen before and this is that event."
    )


def limit_body(max_bytes: int) -> Callable:
    """Wrap a ninja operation so a request body over ``max_bytes`` answers 413.

    It runs before authentication and parsing. Content-Length is checked first, so an
    oversized body is never read; the body actually read is checked as well, in case the
    header understated it.
    """

    def decorator(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(run)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0  # Django reads no body then either.
            if declared > max_bytes:
                return _too_large(max_bytes)
            try:
                body = request.body
            except RequestDataTooBig:
                # Only when DATA_UPLOAD_MAX_MEMORY_SIZE is set below max_bytes.
                return _too_large(max_bytes)
            if len(body) > max_bytes:
                return _too_large(max_bytes)
            return run(request, *args, **kwargs)

        return guarded

    return decorator


def _too_large(max_bytes: int) -> JsonResponse:
    detail = f"The request body is larger than {max_bytes // 1024} KiB ({max_bytes} bytes)."
    return JsonResponse({"detail": detail}, status=413)


@router.post(
    "/events",
    auth=ApiKeyAuth(),
    response={202: EventOut, 401: ErrorOut, 413: ErrorOut, 422: HTTPValidationError},
    summary="Record an event",
    description=(
        "Records an event and one delivery per webhook subscribed to its type; the "
        "deliveries are sent in the background. Answers 202 with the event. A repeated "
        "`idempotency_key` answers 202 with the event recorded the first time "
        "(`duplicate: true`) and creates nothing. The body may be at most "
        f"{MAX_PAYLOAD_BYTES // 1024} KiB (413 otherwise). An unknown event type, a "
        "malformed body or invalid fields answer 422."
    ),
)
@decorate_view(limit_body(MAX_PAYLOAD_BYTES))
def create_event(request: HttpRequest, payload: EventIn) -> Status:
    try:
        event, created = emit(payload.event_type, payload.payload, payload.idempotency_key)
    except UnknownEventType:
        raise ValidationError(
            [
                {
                    "loc": ["body", "payload", "event_type"],
                    "msg": f"Unknown event type '{payload.event_type}'; "
                    "add it to the event-type catalog first",
                    "type": "unknown_event_type",
                }
            ]
        ) from None
    return Status(
        202,
        EventOut(
            id=event.pk,
            event_type=event.event_type.name,
            occurred_at=event.occurred_at,
            idempotency_key=event.idempotency_key or None,
            deliveries=event.deliveries.count(),
            duplicate=not created,
        ),
    )
