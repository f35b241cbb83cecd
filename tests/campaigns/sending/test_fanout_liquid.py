"""A custom Liquid body at fan-out, at the speed of profile variables: the template parsed
once per run and compiled, each batch's context built once, its profiles read with the
segment, and (PostgreSQL) each chunk written while the next one renders; the bodies are
python-liquid's, the run's counters and resumption those of any run."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.content import template
from campaigns.content.payload import Recipient
from campaigns.management.commands.bench_fanout import LIQUID_BODY
from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.sending import fanout
from deliveries.models import Delivery
from tests.factories import make_campaign, make_profile_event, make_profiles, make_webhook

PLANS = ["free", "basic", "premium", "gold"]


@pytest.fixture
def audience(transactional_db):
    """30 members who launched the app, with the seed's kinds of properties. Committed:
    on PostgreSQL the members are read (and the chunks written) by other connections."""
    yesterday = timezone.now() - timedelta(days=1)
    profiles = make_profiles(
        30,
        email=lambda n: f"User{n}@Example.com",
        push_token=lambda n: f"token-{n}" if n % 3 else "",
        properties=lambda n: {
            "name": f"Ünï {n} Smith" if n % 4 else "",
            "city": f"City {n}",
            "plan": PLANS[n % 4],
            "vip": n % 7 == 0,
        },
    )
    for profile in profiles:
        make_profile_event(profile, "App Launched", occurred_at=yesterday)
    return profiles


def liquid_campaign(**fields) -> Campaign:
    defaults = {
        "name": "Liquid",
        "batch_size": 7,
        "body_mode": "custom",
        "custom_body": LIQUID_BODY,
        "key_values": {"campaign": "spring"},
        "status": "running",
    }
    return make_campaign(make_webhook(), **defaults | fields)


def interpreted(campaign: Campaign, profiles) -> str:
    """The body python-liquid itself renders for a batch of ``profiles``."""
    recipients = [
        Recipient(p.identity, p.email, p.object_id, p.push_token, p.properties) for p in profiles
    ]
    values = template.context_for(campaign.pk, campaign.key_values, recipients, {})
    compiled = template._compile(campaign.custom_body)
    return template._interpret(compiled.template, values, time.monotonic() + 60)


def test_every_body_is_the_one_python_liquid_renders(audience):
    sale = liquid_campaign()

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.targets, run.payloads) == ("completed", 30, 5)
    bodies = [d.payload for d in Delivery.objects.filter(campaign=sale).order_by("pk")]
    batches = [audience[i : i + 7] for i in range(0, 30, 7)]
    assert bodies == [interpreted(sale, batch) for batch in batches]
    assert [len(json.loads(body)["messages"]) for body in bodies] == [7, 7, 7, 7, 2]
    assert CampaignRecipient.objects.filter(run=run, control=False).count() == 30


def test_a_run_parses_its_template_once(audience, monkeypatch):
    parsed = []
    real = template._parse
    monkeypatch.setattr(template, "_parse", lambda source: parsed.append(1) or real(source))
    template._compile_small.cache_clear()
    sale = liquid_campaign(batch_size=2)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.payloads, len(parsed)) == (15, 1)


def test_a_template_error_fails_its_batch_only_as_before(audience):
    # divided_by: 0 for the members whose name is empty (every fourth): python-liquid's
    # error, with its line, for their batches; the others render.
    body = '{"n": [{% for p in profiles %}\n{{ 10 | divided_by: p.ProfileData.name.size }}'
    body += "{% unless forloop.last %},{% endunless %}{% endfor %}]}"
    sale = liquid_campaign(custom_body=body, batch_size=2)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.targets, run.payloads) == ("completed", 30, 15)
    failed = Delivery.objects.filter(campaign=sale, status="failed")
    assert failed.count() == 7  # the batches holding members 4, 8, ..., 28
    attempt = failed.first().attempts.get()
    assert attempt.failure_reason == "template_error"
    assert attempt.failure_detail == "line 2: divided_by: can't divide by 0"


def test_a_write_that_fails_fails_the_run_and_the_run_resumes_after_its_last_write(
    audience, monkeypatch
):
    sale = liquid_campaign(batch_size=2)
    monkeypatch.setattr(fanout, "CHUNK", 6)
    real = fanout._write
    calls = []

    def dies_on_the_third_write(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        real(*args)

    monkeypatch.setattr(fanout, "_write", dies_on_the_third_write)
    with pytest.raises(RuntimeError, match="worker lost"):
        fanout.run_occurrence(sale.pk, "manual-1")
    run = CampaignRun.objects.get()
    assert (run.status, run.streamed, run.targets, run.payloads) == ("running", 12, 12, 6)

    monkeypatch.setattr(fanout, "_write", real)
    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.streamed, run.targets, run.payloads) == ("completed", 30, 30, 15)
    sent = [
        message["id"]
        for body in Delivery.objects.values_list("payload", flat=True)
        for message in json.loads(body)["messages"]
    ]
    assert sorted(sent) == sorted(p.identity for p in audience)


def test_a_campaign_stopped_by_a_write_writes_no_further_chunk(audience, monkeypatch):
    sale = liquid_campaign(batch_size=1)
    monkeypatch.setattr(fanout, "CHUNK", 5)
    real = fanout._write

    def stop_after_the_first_chunk(campaign, *args):
        real(campaign, *args)
        Campaign.objects.filter(pk=campaign.pk).update(status="stopped")

    monkeypatch.setattr(fanout, "_write", stop_after_the_first_chunk)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.targets, run.payloads) == ("stopped", 5, 5)
    assert Delivery.objects.filter(campaign=sale).count() == 5


def test_the_target_cap_counts_the_chunks_handed_to_the_writer(audience, monkeypatch):
    monkeypatch.setattr(fanout, "CHUNK", 4)
    sale = liquid_campaign(batch_size=3, target_cap=10)

    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (run.status, run.targets) == ("completed", 10)
    assert CampaignRecipient.objects.filter(run=run, control=False).count() == 10
