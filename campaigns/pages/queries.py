"""The campaign list's queries: the keyset of each sort, per database, and each row's
delivery figures from the rollups."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import BigIntegerField, F
from django.db.models.expressions import RawSQL

from campaigns.models import Campaign
from config.keyset import SortKey
from deliveries.stats import queries as delivery_stats
from deliveries.stats.figures import Figures

# The epoch second of the next run, per database: an integer cursor value on both. A
# campaign without a next run sorts last either way (NO_RUN is chosen per direction).
EPOCH_SQL = {
    "postgresql": 'CAST(EXTRACT(EPOCH FROM {t}."next_run_at") AS BIGINT)',
    "sqlite": 'CAST((julianday({t}."next_run_at") - 2440587.5) * 86400 AS INTEGER)',
}
NO_RUN = {False: 2**62, True: -1}  # ascending, descending


def sort_key(sort: str, descending: bool) -> SortKey | None:
    """The keyset's leading column for a sort; ``created`` (the time column alone) has
    none. Every sort ends with (created_at, id), so equal keys keep a stable order."""
    if sort == "name":
        return SortKey('{t}."name"', lambda: F("name"))
    if sort == "status":
        return SortKey('{t}."status"', lambda: F("status"))
    if sort == "type":
        return SortKey('{t}."delivery_type"', lambda: F("delivery_type"))
    if sort == "next_run":
        sql = f"COALESCE({EPOCH_SQL[connection.vendor]}, {NO_RUN[descending]})"
        table = f'"{Campaign._meta.db_table}"'
        return SortKey(
            sql, lambda: RawSQL(sql.format(t=table), [], output_field=BigIntegerField()), kind=int
        )
    return None


@dataclass
class CampaignFigures:
    """A list row's delivery figures, all the campaign's (within retention): from the
    rollups, never the deliveries or attempts tables."""

    streamed: int
    attempts: Figures


def with_figures(campaigns: list[Campaign]) -> list[tuple[Campaign, CampaignFigures]]:
    """Each campaign of a page with its figures: two grouped queries for the page."""
    ids = [c.pk for c in campaigns]
    streamed = delivery_stats.deliveries_by_campaign(ids)
    attempts = delivery_stats.by_campaign(ids)
    return [
        (c, CampaignFigures(streamed.get(c.pk, 0), attempts.get(c.pk) or Figures()))
        for c in campaigns
    ]
