"""Every figure of the dashboard and a webhook's stats page that links somewhere opens a
page whose count is that figure (attempt figures open the attempts log, delivery
figures the delivery log)."""

import pytest
from django.urls import reverse

from tests.factories import make_due_deliveries, make_webhook
from tests.support.figures import linked_figures, shown_count
from tests.support.sending import send_due_batch
from webhooks.models import SystemSettings


@pytest.fixture
def traffic(transactional_db, receiver):
    """Real sends through the engine: successes, 5xx and 4xx answers (with a retry each),
    refused connections and a permanent failure, to three webhooks."""
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds = 1, 1
    system.save()
    mixed = make_webhook(name="Mixed", url=receiver.url + "/codes/500,404,200")
    make_due_deliveries(mixed, 3)
    make_due_deliveries(make_webhook(name="Fine", url=receiver.url + "/ok"), 4)
    make_due_deliveries(make_webhook(name="Down", url="http://127.0.0.1:9/x"), 2)
    for _ in range(10):  # first tries, then the retries as they fall due
        send_due_batch()
    return mixed


def count_on(client, url: str) -> int:
    return shown_count(client, url)[0]


@pytest.mark.parametrize("window", ["", "?range=24h", "?range=30d"])
def test_each_linked_figure_opens_a_page_with_that_count(admin_client, traffic, window):
    for page_url in (reverse("stats:dashboard"), reverse("stats:webhook", args=[traffic.pk])):
        page = admin_client.get(page_url + window).content.decode()
        figures = linked_figures(page)
        assert len(figures) >= 8, page_url  # totals, failures, errors, statuses, webhooks
        assert any("/attempts" in url for url, _ in figures)
        assert any("status=" in url and "/attempts" not in url for url, _ in figures)
        for url, figure in figures:
            assert count_on(admin_client, url) == figure, (page_url + window, url)
