"""The segments API: preview a rule, page through a saved segment's members, list them."""

import base64
import json
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as InvalidInput
from pydantic import ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from campaigns.models import Segment
from campaigns.segments import evaluate, rules
from config.api import ErrorOut, HTTPValidationError, check_storable
from webhooks.api_auth import ApiKeyAuth

router = Router(tags=["segments"])

SAMPLE_SIZE = 10
MAX_LIMIT = 1000
# Ids are bigint: a larger number can name no segment, and the database would refuse it.
MAX_ID = 2**63 - 1


def _storable(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # The rule's texts become query parameters, which PostgreSQL refuses with NUL
    # characters or lone surrogates: a 422, not a 500.
    rule = handler(value)
    check_storable(value)
    return rule


RuleIn = Annotated[rules.Rule, WrapValidator(_storable)]


class SegmentOut(Schema):
    id: int
    name: str
    description: str


class SegmentsOut(Schema):
    segments: list[SegmentOut] = Field(description="The saved segments, by name.")


class PreviewOut(Schema):
    count: int = Field(description="Profiles the rule selects now.")
    sample: list[str] = Field(
        description=f"Up to {SAMPLE_SIZE} of their identities, the first in identity order."
    )


class MembersOut(Schema):
    identities: list[str] = Field(
        description="This page's members, in the order profiles were created."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    count: int | None = Field(
        default=None, description="All members now, when asked for with `count=true`."
    )


@router.get(
    "/segments",
    auth=ApiKeyAuth(),
    response={200: SegmentsOut, 401: ErrorOut},
    summary="List saved segments",
)
def list_segments(request: HttpRequest) -> SegmentsOut:
    segments = Segment.objects.order_by("name").values("id", "name", "description")
    return SegmentsOut(segments=[SegmentOut(**segment) for segment in segments])


@router.post(
    "/segments/preview",
    auth=ApiKeyAuth(),
    response={200: PreviewOut, 401: ErrorOut, 413: ErrorOut, 422: HTTPValidationError},
    summary="Preview a segment rule",
    description=(
        "Evaluates a rule, as the segment builder saves it, against the profiles and "
        f"events now: how many profiles it selects, and up to {SAMPLE_SIZE} of their "
        "identities. An invalid rule answers 422."
    ),
)
def preview_segment(request: HttpRequest, rule: RuleIn) -> PreviewOut:
    now = timezone.now()
    sample = evaluate.sample(rule, SAMPLE_SIZE, now)
    return PreviewOut(count=evaluate.count(rule, now), sample=[p.identity for p in sample])


@router.get(
    "/segments/{segment_id}/members",
    auth=ApiKeyAuth(),
    response={
        200: MembersOut,
        401: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: HTTPValidationError,
    },
    summary="Page through a segment's members",
    description=(
        "The identities of the profiles a saved segment selects now, a page at a time: "
        "pass each answer's `next_cursor` as `cursor` until it is null. Profiles that join "
        "or leave the segment while you page may be missed or included. An unknown "
        "segment answers 404, a segment whose saved rule is no longer valid 409, and a "
        "cursor that is not one of ours 422."
    ),
)
def segment_members(
    request: HttpRequest,
    segment_id: int = Path(..., ge=1, le=MAX_ID),
    cursor: str | None = Query(None, max_length=100, description="From the previous page."),
    limit: int = Query(100, ge=1, le=MAX_LIMIT, description="Identities per page."),
    count: bool = Query(False, description="Also count all members (slower)."),
) -> MembersOut:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise HttpError(404, f"Segment {segment_id} not found.")
    try:
        rule = rules.parse(segment.rule)
    except ValidationError:
        raise HttpError(
            409,
            f"Segment '{segment.name}' has a rule that is no longer valid; "
            "open it in the builder and save it again.",
        ) from None
    after = _decode(cursor, segment.pk) if cursor else 0
    now = timezone.now()
    # Keyset on the profile id: every page is one index range, however deep.
    members = evaluate.members(rule, now).filter(pk__gt=after).order_by("pk")
    rows = list(members.values_list("pk", "identity")[: limit + 1])
    page = rows[:limit]
    return MembersOut(
        identities=[identity for _, identity in page],
        next_cursor=_encode(segment.pk, page[-1][0]) if len(rows) > limit else None,
        count=evaluate.count(rule, now) if count else None,
    )


def _encode(segment_id: int, last_id: int) -> str:
    raw = json.dumps([segment_id, last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, segment_id: int) -> int:
    """The last profile id of the previous page; a 422 for a cursor not made above."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        segment, last_id = json.loads(raw)
        if not all(type(n) is int and 0 < n <= MAX_ID for n in (segment, last_id)):
            raise ValueError
    except (ValueError, TypeError, UnicodeError):
        raise _bad_cursor("pass a page's next_cursor as it came, or none to start over") from None
    if segment != segment_id:
        raise _bad_cursor("it pages through another segment")
    return last_id


def _bad_cursor(reason: str) -> InvalidInput:
    error = {"loc": ["query", "cursor"], "msg": f"Invalid cursor: {reason}", "type": "value_error"}
    return InvalidInput([error])
