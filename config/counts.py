"""Counts for list pages that never scan millions of rows: exact up to ``COUNT_LIMIT``,
the planner's estimate beyond. The delivery log, the campaign list and the profiles page
all count this way, so "about 17,000" means the same on each."""

import json

from django.db import connection
from django.db.models import QuerySet

# Up to this many matching rows are counted exactly; above it a page shows the planner's
# estimate ("about 17,000"), never a COUNT(*) over millions of rows.
COUNT_LIMIT = 1_000


def bounded_count(queryset: QuerySet) -> tuple[int, bool]:
    """(count, estimated): exact up to ``COUNT_LIMIT``; beyond it the database's estimate
    of the row count (at least ``COUNT_LIMIT``), or ``COUNT_LIMIT`` where there is none."""
    count = queryset.order_by()[: COUNT_LIMIT + 1].count()
    if count <= COUNT_LIMIT:
        return count, False
    return max(estimate_count(queryset), COUNT_LIMIT), True


def estimate_count(queryset: QuerySet) -> int:
    """The planner's row estimate for ``queryset`` on PostgreSQL (0 elsewhere)."""
    if connection.vendor != "postgresql":
        return 0
    sql, params = queryset.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])
