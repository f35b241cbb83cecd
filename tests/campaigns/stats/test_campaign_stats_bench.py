"""``bench_stats --campaign`` runs end to end on a small sent campaign written by
``campaigns.stats.bench.seed`` (its figures are for the notes, never asserted here)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from campaigns.models import CampaignRecipient, Profile
from campaigns.stats import bench
from deliveries.models import Delivery, DeliveryAttempt
from deliveries.stats import queries
from tests.factories import make_webhook

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY: PostgreSQL only"),
    pytest.mark.django_db,
]


@pytest.fixture
def seeded():
    make_webhook()
    Profile.objects.bulk_create(Profile(identity=f"p{i}") for i in range(1000))
    return bench.seed(profiles=1000)


def test_the_seed_writes_a_sent_campaign_counted_in_the_rollups(seeded):
    campaign = seeded.campaign
    assert CampaignRecipient.objects.filter(run__campaign=campaign).count() == 1000
    assert Delivery.objects.filter(campaign=campaign).count() == seeded.deliveries
    attempts = DeliveryAttempt.objects.filter(delivery__campaign=campaign).count()
    assert attempts == seeded.attempts
    assert queries.by_campaign([campaign.pk])[campaign.pk].total == attempts
    assert queries.deliveries_by_campaign([campaign.pk]) == {campaign.pk: seeded.deliveries}


def test_a_second_seed_replaces_the_first(seeded):
    again = bench.seed(profiles=1000)
    assert CampaignRecipient.objects.count() == 1000
    assert queries.deliveries_by_campaign([again.campaign.pk]) == {
        again.campaign.pk: again.deliveries
    }


def test_bench_stats_times_the_campaign_pages(seeded):
    out = StringIO()
    call_command("bench_stats", campaign=0, repeat=1, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith(f"campaign {seeded.campaign.pk}:")
    assert lines[-1].startswith("campaign_page_median_ms=")
    assert " campaign_audience_median_ms=" in lines[-1]
