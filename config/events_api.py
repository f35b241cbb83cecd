"""The events API: other systems post events here, and the portal delivers them.

It sits above the apps, as the edge where a request meets both of them: the delivery
engine records the event and its deliveries (``deliveries.engine.emit``), and an event
with a profile ``identity`` is also a user event, which ``campaigns.user_events`` adds to
the profile and to the live campaigns it triggers, in the same transaction.
"""

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.errors import ValidationError
from pydantic import BaseModel, ConfigDict, field_validator

from campaigns import user_events
from config.api import ErrorOut, HTTPValidationError, IsoDateTime, check_storable, limit_body
from deliveries.engine import MAX_PAYLOAD_BYTES, UnknownEventType, emit
from webhooks.api_auth import ApiKeyAuth
from webhooks.models import Event

router = Router(tags=["events"])


class EventIn(BaseModel):
    # A plain pydantic model: ninja's Schema reads attributes off any object, so a body of
    # [] or 5 would only say "Field required" instead of "should be an object".
    # Unknown fields are refused, so a misspelt idempotency_key cannot pass unnoticed.
    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(
        max_length=100,
        description="The name of an event type in the catalog. With an identity, any "
        'name (a user event such as "Charged"); only catalogued ones are delivered.',
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

    identity: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The profile the event belongs to (a user event): it is added to the "
        "profile's events, and a profile that is new is created.",
        examples=["user-1842"],
    )
    occurred_at: IsoDateTime | None = Field(
        default=None,
        description="When the user event happened (ISO 8601; without an offset, UTC); "
        "only with an identity. Defaults to when the event arrives.",
    )

    @field_validator("event_type", "payload", "idempotency_key", "identity")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_storable(value)

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0
            raise ValueError("the time must fall between years 1 and 9999 in UTC") from None


class EventOut(Schema):
    id: int | None = Field(
        description="The event's id; null for a user event whose name is not in the "
        "catalog (it is kept with the profile only, and nothing is delivered)."
    )
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
    # Answered only for events sent with an identity (exclude_unset), so the answer to
    # any other event is what it always was.
    identity: str | None = Field(
        default=None, description="Only for a user event: the profile it belongs to."
    )
    recorded_for_profile: bool = Field(
        default=False,
        description="Only for a user event: true when this request added it to the "
        "profile's events (false for a duplicate).",
    )


@router.post(
    "/events",
    auth=ApiKeyAuth(),
    response={202: EventOut, 401: ErrorOut, 413: ErrorOut, 422: HTTPValidationError},
    exclude_unset=True,
    summary="Record an event",
    description=(
        "Records an event and one delivery per webhook subscribed to its type; the "
        "deliveries are sent in the background. Answers 202 with the event. A repeated "
        "`idempotency_key` answers 202 with the event recorded the first time "
        "(`duplicate: true`) and creates nothing. The body may be at most "
        f"{MAX_PAYLOAD_BYTES // 1024} KiB (413 otherwise). An unknown event type, a "
        "malformed body or invalid fields answer 422.\n\n"
        "**User events.** With an `identity`, the event belongs to that profile (a new "
        "identity creates a bare profile): it is added to the profile's events with its "
        "`payload` as properties, at `occurred_at` or now. Its name need not be in the "
        "catalog; when it is, the event is also delivered as above, with that time. An "
        "`idempotency_key` needs a catalogued name, and `occurred_at` an identity (422 "
        "otherwise). The answer adds `identity` and `recorded_for_profile`."
    ),
)
@decorate_view(limit_body(MAX_PAYLOAD_BYTES))
def create_event(request: HttpRequest, payload: EventIn) -> Status:
    if payload.identity is None:
        if payload.occurred_at is not None:
            raise _invalid(
                "occurred_at",
                "occurred_at is the time of a user event: send it with an identity",
                "identity_required",
            )
        event, created = _emit(payload)
        return Status(202, _answer(event, created))
    with transaction.atomic():  # The event, its deliveries and the profile's copy.
        return Status(202, _user_event(payload))


def _emit(payload: EventIn) -> tuple[Event, bool]:
    try:
        return emit(payload.event_type, payload.payload, payload.idempotency_key)
    except UnknownEventType:
        raise _unknown_event_type(payload.event_type) from None


def _user_event(payload: EventIn) -> dict:
    occurred_at = payload.occurred_at or timezone.now()
    try:
        event, created = emit(
            payload.event_type, payload.payload, payload.idempotency_key, occurred_at
        )
    except UnknownEventType:
        if payload.idempotency_key:
            # Only the outbox keeps keys; a retried user event would be recorded twice.
            raise _invalid(
                "idempotency_key",
                f"'{payload.event_type}' is not in the event-type catalog, and only "
                "catalogued events take an idempotency key",
                "unknown_event_type",
            ) from None
        event, created = None, True
    if created:
        user_events.record(payload.identity, payload.event_type, payload.payload, occurred_at)
    answer = {"identity": payload.identity, "recorded_for_profile": created}
    if event is None:
        return {
            **answer,
            "id": None,
            "event_type": payload.event_type,
            "occurred_at": occurred_at,
            "idempotency_key": None,
            "deliveries": 0,
            "duplicate": False,
        }
    return {**_answer(event, created), **answer}


def _answer(event: Event, created: bool) -> dict:
    return {
        "id": event.pk,
        "event_type": event.event_type.name,
        "occurred_at": event.occurred_at,
        "idempotency_key": event.idempotency_key or None,
        "deliveries": event.deliveries.count(),
        "duplicate": not created,
    }


def _invalid(field: str, msg: str, kind: str) -> ValidationError:
    return ValidationError([{"loc": ["body", "payload", field], "msg": msg, "type": kind}])


def _unknown_event_type(name: str) -> ValidationError:
    return _invalid(
        "event_type",
        f"Unknown event type '{name}'; add it to the event-type catalog first",
        "unknown_event_type",
    )
