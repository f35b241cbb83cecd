"""The stats API (seed 001): GET /api/v1/workspace/webhooks/{webhook_id}/stats."""

from ninja import Router

router = Router(tags=["stats"])
