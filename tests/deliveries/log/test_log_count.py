"""The delivery log's count line: its grammar, and the limit up to which it is exact,
as the README states it."""

import re
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from django.utils.html import strip_tags

from config import counts
from tests.factories import make_due_deliveries, make_webhook

LOG = reverse("deliveries:log")


def count_line(client, **params) -> str:
    page = client.get(LOG, params).content.decode()
    start = page.index('data-testid="log-count"')
    line = page[page.rindex("<span", 0, start) :]
    return " ".join(strip_tags(line[: line.index("</span>")]).split())


def test_one_delivery_matches_these_filters_and_two_deliveries_match(admin_client):
    webhook = make_webhook()
    make_due_deliveries(webhook, 1)
    assert count_line(admin_client, status="pending") == "1 delivery matches these filters"
    make_due_deliveries(webhook, 1)
    assert count_line(admin_client, status="pending") == "2 deliveries match these filters"
    assert count_line(admin_client) == "2 deliveries"  # no filter, nothing to match


def test_the_readme_states_the_limit_the_count_is_exact_to(admin_client):
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    [stated] = re.findall(r"The count is exact up to ([\d,]+)", readme)
    assert int(stated.replace(",", "")) == counts.COUNT_LIMIT

    webhook = make_webhook()
    make_due_deliveries(webhook, counts.COUNT_LIMIT)
    exactly = count_line(admin_client)
    assert exactly == f"{counts.COUNT_LIMIT:,} deliveries"
    make_due_deliveries(webhook, 1)
    beyond = count_line(admin_client)
    assert beyond.startswith("about ") and beyond.endswith(" deliveries"), beyond
