"""The stats API (seed 001): GET /api/v1/workspace/webhooks/{webhook_id}/stats."""

from datetime import UTC, datetime

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as InvalidInput

from config.api import ErrorOut, HTTPValidationError, IsoDateTime
from deliveries.stats import queries
from deliveries.stats.windows import Window
from webhooks.api_auth import ApiKeyAuth
from webhooks.models import Webhook

router = Router(tags=["stats"])

# Ids are bigint: a larger number can name no webhook, and the database would refuse it.
MAX_ID = 2**63 - 1


class WebhookStatsResponse(Schema):
    """Seed 001's response, field for field."""

    total: int = Field(
        title="Total",
        description="Attempts in the window: every HTTP try, automatic retries and manual "
        'retries included; what the stats pages call "Attempts". Not their "Webhooks '
        'streamed", which counts deliveries, each once however many attempts it took.',
    )
    success_count: int = Field(title="Success Count", description="Attempts answered 2xx.")
    failed_count: int = Field(
        title="Failed Count",
        description="Attempts that failed: any other status, a timeout, a refused "
        "connection, an invalid URL, ...",
    )
    success_rate: float = Field(
        title="Success Rate",
        description="success_count / total, a fraction from 0 to 1 (0.0 when total is 0).",
    )
    avg_duration_ms: int = Field(
        title="Avg Duration Ms",
        description="Mean duration of the attempts, rounded to the millisecond (0 if none).",
    )
    max_duration_ms: int = Field(
        title="Max Duration Ms", description="Longest attempt in milliseconds (0 if none)."
    )
    last_delivery_at: datetime | None = Field(
        None, title="Last Delivery At", description="When the latest attempt was made."
    )


# Module-level so the signature below stays readable (and ruff's B008 quiet).
FROM = Query(None, alias="from", description="Start of the window (ISO 8601), inclusive.")
TO = Query(None, description="End of the window (ISO 8601), exclusive.")


def _utc(moment: datetime | None, name: str) -> datetime | None:
    """``moment`` in UTC (naive means UTC); 422 when it is outside what UTC can hold
    (``0001-01-01T00:00:00+01:00`` is in year 0)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            [
                {
                    "loc": ["query", name],
                    "msg": "Time out of range: it must fall between years 1 and 9999 in UTC.",
                    "type": "value_error",
                }
            ]
        ) from None


@router.get(
    "/workspace/webhooks/{webhook_id}/stats",
    auth=ApiKeyAuth(),
    response={200: WebhookStatsResponse, 401: ErrorOut, 404: ErrorOut, 422: HTTPValidationError},
    summary="Get webhook delivery stats",
    operation_id="webhook_stats",
    url_name="webhook_stats",
    description=(
        "Delivery figures of one webhook, counted over attempts (every HTTP try, "
        "automatic and manual). Without `from`/`to`, everything still kept (the "
        "retention period). The window is widened to whole UTC hours: `from` down, `to` "
        "up. Times without an offset are UTC. An unknown webhook answers 404, an invalid "
        "id or window 422, a missing or revoked API key 401."
    ),
)
def webhook_stats(
    request: HttpRequest,
    webhook_id: int = Path(..., ge=1, le=MAX_ID, title="Webhook Id"),
    from_: IsoDateTime | None = FROM,
    to: IsoDateTime | None = TO,
) -> WebhookStatsResponse:
    start, end = _utc(from_, "from"), _utc(to, "to")
    if start and end and start >= end:
        raise InvalidInput(
            [{"loc": ["query", "to"], "msg": "'to' must be after 'from'", "type": "value_error"}]
        )
    if not Webhook.objects.filter(pk=webhook_id).exists():
        raise HttpError(404, f"Webhook {webhook_id} not found.")
    figures = queries.summary(Window.covering(start, end), webhook_id=webhook_id)
    return WebhookStatsResponse(
        total=figures.total,
        success_count=figures.success_count,
        failed_count=figures.failed_count,
        success_rate=figures.success_rate,
        avg_duration_ms=figures.avg_duration_ms,
        max_duration_ms=figures.max_duration_ms,
        last_delivery_at=figures.last_delivery_at,
    )
