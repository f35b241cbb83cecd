"""The events API: other systems post events here, one at a time or up to 1,000 in a
batch, and the portal delivers them.

It sits above the apps, as the edge where a request meets both of them: the delivery
engine records the events and their deliveries (``deliveries.engine.emit_many``, one
statement for a whole batch), and an event with a profile ``identity`` is also a user
event, which ``campaigns.user_events`` adds to the profile and to the live campaigns it
triggers, in the same transaction.

A batch is checked event by event, as the single endpoint checks its one event: a bad
event gets its errors in its place of the answer, and the others are recorded.
"""

import json
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any, Literal

import pydantic
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.errors import ValidationError
from pydantic import BaseModel, ConfigDict, field_validator

from campaigns import user_events
from config.api import ErrorOut, HTTPValidationError, IsoDateTime, check_storable, limit_body
from config.api import ValidationError as ValidationErrorOut
from deliveries.engine import MAX_PAYLOAD_BYTES, Emitted, NewEvent, emit_many
from webhooks.api_auth import ApiKeyAuth

MAX_BATCH = 1000
# A batch's body: about 2 KiB an event at its fullest (each event still at most
# MAX_PAYLOAD_BYTES), and below Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
MAX_BATCH_BYTES = 2 * 1024 * 1024

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
    ordering_key: str | None = Field(
        default=None,
        max_length=200,
        description="For webhooks that deliver in order per key (and read no field of "
        "the payload for it): events with the same key reach each such webhook in the "
        "order they were sent.",
        examples=["order-1842"],
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

    @field_validator("event_type", "payload", "idempotency_key", "ordering_key", "identity")
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


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each event is checked on its own (EventIn), so one bad event fails alone.
    events: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH:,} events, each as the body of POST /api/v1/events.",
    )


class BatchResultOut(Schema):
    status: Literal["created", "duplicate", "error"] = Field(
        description="created: recorded now; duplicate: its idempotency key was seen "
        "before (in an earlier request or earlier in this batch) and `event` is that "
        "event; error: not recorded, `errors` says why."
    )
    event: EventOut | None = Field(default=None, description="Unless the status is error.")
    errors: list[ValidationErrorOut] | None = Field(
        default=None,
        description="Only for the status error: what is wrong, each `loc` starting with "
        '["body", "payload", "events", <index>].',
    )


class BatchOut(Schema):
    created: int = Field(description="Events recorded now.")
    duplicates: int = Field(description="Events whose idempotency key was seen before.")
    errors: int = Field(description="Events not recorded because they are invalid.")
    results: list[BatchResultOut] = Field(description="One per event sent, in order.")


STATUSES = ("created", "duplicate", "error")

USER_EVENTS = (
    "**User events.** With an `identity`, the event belongs to that profile (a new "
    "identity creates a bare profile): it is added to the profile's events with its "
    "`payload` as properties, at `occurred_at` or now. Its name need not be in the "
    "catalog; when it is, the event is also delivered as above, with that time. An "
    "`idempotency_key` needs a catalogued name, and `occurred_at` an identity (422 "
    "otherwise). The answer adds `identity` and `recorded_for_profile`."
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
        "malformed body or invalid fields answer 422.\n\n" + USER_EVENTS
    ),
)
@decorate_view(limit_body(MAX_PAYLOAD_BYTES))
def create_event(request: HttpRequest, payload: EventIn) -> Status:
    [result] = _record([payload])
    if isinstance(result, list):
        raise ValidationError(
            [{**error, "loc": ["body", "payload", *error["loc"]]} for error in result]
        )
    return Status(202, result)


@router.post(
    "/events/batch",
    auth=ApiKeyAuth(),
    response={202: BatchOut, 401: ErrorOut, 413: ErrorOut, 422: HTTPValidationError},
    exclude_unset=True,
    summary="Record events in a batch",
    description=(
        f'Records up to {MAX_BATCH:,} events, sent as `{{"events": [...]}}`, each as the '
        "body of `POST /api/v1/events`, with their deliveries. Answers 202 with a result "
        "per event, in the order sent: `created`, `duplicate` (its `idempotency_key` was "
        "seen before, in an earlier request or earlier in this batch: the event recorded "
        "first, and nothing new) or `error` (an unknown event type, invalid fields, an "
        f"event over {MAX_PAYLOAD_BYTES // 1024} KiB), with what the single endpoint "
        "would answer. An invalid event is left out; the others are recorded. The body "
        f"may be at most {MAX_BATCH_BYTES // 1024 // 1024} MiB (413 otherwise); a body "
        f"that is not JSON, not an object with `events`, or more than {MAX_BATCH:,} "
        "events answers 422 and records nothing. User events are as for a single "
        "event.\n\n" + USER_EVENTS
    ),
)
@decorate_view(limit_body(MAX_BATCH_BYTES))
def create_events(request: HttpRequest, payload: BatchIn) -> Status:
    # No event of a body within one event's limit can be over it: skip measuring them.
    measure = len(request.body) > MAX_PAYLOAD_BYTES
    items: list[EventIn | list[dict]] = [_parse(item, measure) for item in payload.events]
    valid = [item for item in items if isinstance(item, EventIn)]
    recorded = iter(_record(valid))
    results = []
    for index, item in enumerate(items):
        outcome = next(recorded) if isinstance(item, EventIn) else item
        if isinstance(outcome, list):
            errors = [
                {**e, "loc": ["body", "payload", "events", index, *e["loc"]]} for e in outcome
            ]
            results.append({"status": "error", "errors": errors})
        else:
            status = "duplicate" if outcome["duplicate"] else "created"
            results.append({"status": status, "event": outcome})
    counts = {status: sum(1 for r in results if r["status"] == status) for status in STATUSES}
    return Status(
        202,
        {
            "created": counts["created"],
            "duplicates": counts["duplicate"],
            "errors": counts["error"],
            "results": results,
        },
    )


def _parse(item: Any, measure: bool) -> "EventIn | list[dict]":
    """One event of a batch, validated as the single endpoint validates its body; or its
    errors (``loc`` within the event)."""
    if measure and _size(item) > MAX_PAYLOAD_BYTES:
        msg = f"The event is larger than {MAX_PAYLOAD_BYTES // 1024} KiB."
        return [{"loc": [], "msg": msg, "type": "too_large"}]
    try:
        return EventIn.model_validate(item)
    except pydantic.ValidationError as exc:
        return [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]


def _size(item: Any) -> int:
    # As sent, in UTF-8; a lone surrogate (refused by EventIn) must not fail the measuring.
    return len(json.dumps(item, ensure_ascii=False).encode(errors="surrogatepass"))


def _record(items: Sequence[EventIn]) -> list[dict | list[dict]]:
    """Record ``items``: for each, in order, the answer, or its errors (``loc`` within
    the event). User events and their profiles' copies commit together."""
    now = timezone.now()
    outcomes: list[dict | list[dict] | None] = [None] * len(items)
    sent, news = [], []
    for i, item in enumerate(items):
        if item.identity is None and item.occurred_at is not None:
            outcomes[i] = [
                _error(
                    "occurred_at",
                    "occurred_at is the time of a user event: send it with an identity",
                    "identity_required",
                )
            ]
            continue
        occurred_at = (item.occurred_at or now) if item.identity else None
        sent.append(i)
        news.append(
            NewEvent(
                item.event_type, item.payload, item.idempotency_key, occurred_at, item.ordering_key
            )
        )
    users = any(items[i].identity is not None for i in sent)
    # The events, their deliveries and the profiles' copies.
    with transaction.atomic() if users else nullcontext():
        for i, emitted in zip(sent, emit_many(news), strict=True):
            item = items[i]
            if item.identity is None:
                outcomes[i] = _answer(emitted) if emitted.error is None else [_unknown(item)]
            else:
                outcomes[i] = _user_event(item, emitted)
    return outcomes


def _user_event(item: EventIn, emitted: Emitted) -> dict | list[dict]:
    if emitted.error is not None and item.idempotency_key:
        # Only the outbox keeps keys; a retried user event would be recorded twice.
        return [
            _error(
                "idempotency_key",
                f"'{item.event_type}' is not in the event-type catalog, and only "
                "catalogued events take an idempotency key",
                "unknown_event_type",
            )
        ]
    created = emitted.error is not None or emitted.created
    occurred_at = emitted.occurred_at
    if created:
        user_events.record(item.identity, item.event_type, item.payload, occurred_at)
    answer = {"identity": item.identity, "recorded_for_profile": created}
    if emitted.error is not None:
        # Not in the catalog: kept with the profile only, and nothing is delivered.
        return {
            **answer,
            "id": None,
            "event_type": item.event_type,
            "occurred_at": occurred_at,
            "idempotency_key": None,
            "deliveries": 0,
            "duplicate": False,
        }
    return {**_answer(emitted), **answer}


def _answer(emitted: Emitted) -> dict:
    return {
        "id": emitted.id,
        "event_type": emitted.event_type,
        "occurred_at": emitted.occurred_at,
        "idempotency_key": emitted.idempotency_key,
        "deliveries": emitted.deliveries,
        "duplicate": not emitted.created,
    }


def _error(field: str, msg: str, kind: str) -> dict:
    return {"loc": [field], "msg": msg, "type": kind}


def _unknown(item: EventIn) -> dict:
    return _error(
        "event_type",
        f"Unknown event type '{item.event_type}'; add it to the event-type catalog first",
        "unknown_event_type",
    )
