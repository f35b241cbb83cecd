"""The create-campaign page: each step saves the draft, refuses bad input with a form
error, and the overview publishes; a sending campaign's steps are locked and say why."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, DeliveryType, Segment
from tests.factories import make_profile, make_profile_event, make_segment, make_webhook
from webhooks.models import ActivityEntry, Webhook

NEW = "/admin/campaigns/new"
RULE = {
    "category": "single_action",
    "action": {"event": "App Launched"},
    "window": {"kind": "last_days", "days": 30},
}


def step(campaign: Campaign, slug: str) -> str:
    return f"/admin/campaigns/{campaign.pk}/edit/{slug}"


@pytest.fixture
def webhook(db):
    return make_webhook(name="CRM sync")


@pytest.fixture
def segment(db):
    return make_segment(RULE, name="Launched lately")


def local(days: int = 2) -> str:
    when = timezone.now().astimezone(ZoneInfo("Europe/Berlin")) + timedelta(days=days)
    return f"{when:%Y-%m-%dT%H:%M}"


def delivery(**fields) -> dict:
    """The first step's inputs: a one-time send two days ahead, in Berlin."""
    return {
        "name": "Spring promo",
        "delivery_type": "one_time",
        "timezone": "Europe/Berlin",
        "send_at_local": local(),
        "trigger_delay_minutes": "0",
    } | fields


def create(admin_client, **fields) -> Campaign:
    response = admin_client.post(NEW, delivery(**fields))
    assert response.status_code == 302, response.content.decode()[:2000]
    return Campaign.objects.get()


def test_the_first_step_creates_a_draft_and_goes_on_to_the_webhook(admin_client):
    assert "Delivery type" in admin_client.get(NEW).content.decode()
    when = local(3)
    response = admin_client.post(
        NEW,
        {
            "name": "Spring promo",
            "delivery_type": "one_time",
            "timezone": "Europe/Berlin",
            "send_at_local": when,
            "trigger_delay_minutes": "0",
        },
    )
    campaign = Campaign.objects.get()
    assert response["Location"] == step(campaign, "webhook")
    assert campaign.status == CampaignStatus.DRAFT
    wall = campaign.send_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{wall:%Y-%m-%dT%H:%M}" == when  # typed in the campaign's zone, kept in UTC


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"send_at_local": "2020-01-01T10:00"}, "send_at_local", "already passed"),
        ({"send_at_local": ""}, "send_at_local", "Choose when to send it"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"delivery_type": "recurring", "every": ""}, "every", "how often"),
        ({"delivery_type": "recurring", "every": "monthly", "day": ""}, "day", "day of the month"),
        ({"delivery_type": "live", "trigger_event": " "}, "trigger_event", "triggers"),
    ],
)
def test_bad_delivery_settings_are_form_errors(admin_client, fields, field, message):
    response = admin_client.post(NEW, delivery(**fields))
    assert response.status_code == 422
    assert message in " ".join(response.context["form"].errors[field])
    assert not Campaign.objects.exists()


def test_a_recurring_campaign_stores_its_rule_and_a_live_one_its_event(admin_client):
    campaign = create(admin_client, delivery_type="recurring", every="monthly", at="10:00", day="7")
    assert campaign.recurrence == {"every": "monthly", "at": "10:00", "day": 7}
    assert campaign.send_at is None
    response = admin_client.post(
        step(campaign, "delivery"),
        {
            "name": "Spring promo",
            "delivery_type": "live",
            "timezone": "UTC",
            "trigger_event": "Added To Cart",
            "trigger_delay_minutes": "30",
        },
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.delivery_type, campaign.trigger_event) == ("live", "Added To Cart")
    assert campaign.trigger_delay_minutes == 30 and campaign.recurrence is None


def test_the_webhook_step_links_to_creating_one_and_comes_back_with_it(admin_client):
    campaign = create(admin_client)
    page = admin_client.get(step(campaign, "webhook")).content.decode()
    assert f"/admin/webhooks/new/?next=/admin/campaigns/{campaign.pk}/edit/webhook" in page
    form = admin_client.get(f"/admin/webhooks/new/?next={step(campaign, 'webhook')}")
    assert "Back to the campaign" in form.content.decode()
    response = admin_client.post(
        "/admin/webhooks/new/",
        {
            "name": "Receiver",
            "url": "https://hooks.example.com/in",
            "is_active": "on",
            "timeout_seconds": "5",
            "next": step(campaign, "webhook"),
            "headers-TOTAL_FORMS": "0",
            "headers-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = Webhook.objects.get()
    assert response["Location"] == f"{step(campaign, 'webhook')}?webhook={created.pk}"
    chosen = admin_client.get(response["Location"])
    assert chosen.context["form"]["webhook"].value() == str(created.pk)


def test_the_webhook_step_never_sends_people_to_another_site(admin_client):
    response = admin_client.get("/admin/webhooks/new/?next=https://evil.example/")
    assert response.context["back"] == ""


def test_choosing_a_webhook_a_goal_and_a_segment(admin_client, webhook, segment):
    campaign = create(admin_client)
    assert admin_client.post(step(campaign, "webhook"), {"webhook": webhook.pk}).status_code == 302
    admin_client.post(step(campaign, "goal"), {"goal_event": "Charged", "goal_window_days": "5"})
    response = admin_client.post(
        step(campaign, "who"),
        {
            "audience": "segment",
            "segment": segment.pk,
            "target_cap": "500",
            "control_percent": "10",
        },
    )
    assert response["Location"] == step(campaign, "what")
    campaign.refresh_from_db()
    assert campaign.webhook == webhook and campaign.segment == segment
    assert (campaign.goal_event, campaign.goal_window_days) == ("Charged", 5)
    assert (campaign.target_cap, campaign.control_percent) == (500, 10)


def test_a_paused_webhook_cannot_be_chosen(admin_client, webhook):
    webhook.is_active = False
    webhook.save()
    campaign = create(admin_client)
    response = admin_client.post(step(campaign, "webhook"), {"webhook": webhook.pk})
    assert response.status_code == 422
    assert "is paused" in response.content.decode()


def test_an_ad_hoc_audience_is_built_with_the_segment_builder(admin_client, segment):
    campaign = create(admin_client)
    response = admin_client.post(
        step(campaign, "who"), {"audience": "adhoc", "target_cap": "", "control_percent": "0"}
    )
    assert response["Location"] == f"/admin/campaigns/{campaign.pk}/audience"
    page = admin_client.get(response["Location"]).content.decode()
    assert "Ad-hoc audience of" in page and 'name="name"' not in page
    saved = admin_client.post(
        response["Location"],
        {
            "category": "single_action",
            "action_count": "1",
            "action0_event": "App Launched",
            "window_kind": "last_days",
            "window_days": "7",
            "timezone": "UTC",
        },
    )
    assert saved["Location"] == step(campaign, "who")
    campaign.refresh_from_db()
    assert campaign.segment is None
    assert campaign.rule["action"]["event"] == "App Launched"
    assert not Segment.objects.exclude(pk=segment.pk).exists()  # not a saved segment


def test_an_ad_hoc_rule_with_errors_stays_on_the_builder(admin_client):
    campaign = create(admin_client)
    response = admin_client.post(
        f"/admin/campaigns/{campaign.pk}/audience",
        {"category": "single_action", "action_count": "1", "window_kind": "last_days"},
    )
    assert response.status_code == 422
    campaign.refresh_from_db()
    assert campaign.rule is None


def what(**fields) -> dict:
    return {
        "content_type": "json",
        "body_mode": "profile_variables",
        "profile_fields": ["Email", "Identity", "ProfileData"],
        "properties_scope": "all",
        "batch_size": "50",
        "query_key": ["utm_source", ""],
        "query_value": ["webhooks", ""],
        "kv_key": ["PromoCode", "PowerUser", ""],
        "kv_value": ["MT50", "true", ""],
        "linked_name": [""],
        "linked_url": [""],
        "custom_body": "",
    } | fields


def test_the_what_step_saves_pairs_fields_and_batch_size(admin_client):
    campaign = create(admin_client)
    response = admin_client.post(step(campaign, "what"), what())
    assert response["Location"] == step(campaign, "overview")
    campaign.refresh_from_db()
    assert campaign.query_params == [["utm_source", "webhooks"]]
    assert campaign.key_values == {"PromoCode": "MT50", "PowerUser": "true"}
    assert campaign.profile_fields == ["Email", "Identity", "ProfileData"]
    assert campaign.profile_properties is None and campaign.batch_size == 50
    chosen = admin_client.post(
        step(campaign, "what"),
        what(properties_scope="chosen", chosen_properties="city, Last Score"),
    )
    assert chosen.status_code == 302
    campaign.refresh_from_db()
    assert campaign.profile_properties == ["city", "Last Score"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"profile_fields": []}, "Tick at least one profile variable"),
        ({"body_mode": "custom", "custom_body": ""}, "Write the body"),
        ({"body_mode": "custom", "custom_body": '{\n  "a": {{ profile.Email }\n}'}, "Line 2"),
        ({"body_mode": "custom", "custom_body": "{{ profil.Email }}"}, "Unknown variable"),
        ({"kv_key": ["", "x"], "kv_value": ["v", "w"]}, "needs a name"),
        ({"kv_key": ["a", "a"], "kv_value": ["1", "2"]}, "Each key can appear once"),
        ({"linked_name": ["weather"], "linked_url": ["ftp://x"]}, "must start with http"),
        ({"linked_name": ["bad name"], "linked_url": ["https://x"]}, "name a source"),
        ({"batch_size": "0"}, "greater than or equal to 1"),
        ({"batch_size": "5000"}, "less than or equal to 1000"),
    ],
)
def test_bad_content_is_a_form_error(admin_client, fields, message):
    campaign = create(admin_client)
    response = admin_client.post(step(campaign, "what"), what(**fields))
    assert response.status_code == 422
    assert message in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.profile_fields == []  # nothing saved


def test_a_custom_liquid_body_is_saved(admin_client):
    campaign = create(admin_client)
    body = (
        '{"emails": [{% for p in profiles %}{{ p.Email | json }}'
        "{% unless forloop.last %},{% endunless %}{% endfor %}]}"
    )
    response = admin_client.post(step(campaign, "what"), what(body_mode="custom", custom_body=body))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.custom_body == body and campaign.body_mode == "custom"


def ready(admin_client, webhook, segment) -> Campaign:
    campaign = create(admin_client)
    admin_client.post(step(campaign, "webhook"), {"webhook": webhook.pk})
    admin_client.post(
        step(campaign, "who"),
        {"audience": "segment", "segment": segment.pk, "control_percent": "0"},
    )
    admin_client.post(step(campaign, "what"), what())
    return Campaign.objects.get(pk=campaign.pk)


def test_the_overview_lists_what_is_missing(admin_client):
    campaign = create(admin_client)
    page = admin_client.get(step(campaign, "overview")).content.decode()
    assert "Choose the webhook to send to." in page
    assert "Choose who receives it" in page
    assert "Choose the profile variables to send." in page
    assert 'data-testid="publish"' not in page


def test_publishing_schedules_the_campaign(admin_client, webhook, segment):
    campaign = ready(admin_client, webhook, segment)
    page = admin_client.get(step(campaign, "overview")).content.decode()
    assert "Ready to publish" in page
    response = admin_client.post(f"/admin/campaigns/{campaign.pk}/publish")
    assert response["Location"] == f"/admin/campaigns/{campaign.pk}"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.next_run_at == campaign.send_at
    assert ActivityEntry.objects.filter(action="campaign.published").exists()


def test_publishing_a_campaign_whose_time_passed_is_refused(admin_client, webhook, segment):
    campaign = ready(admin_client, webhook, segment)
    Campaign.objects.filter(pk=campaign.pk).update(send_at=timezone.now() - timedelta(hours=2))
    response = admin_client.post(f"/admin/campaigns/{campaign.pk}/publish", follow=True)
    assert "already passed" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_editing_a_scheduled_campaigns_time_moves_its_next_run(admin_client, webhook, segment):
    campaign = ready(admin_client, webhook, segment)
    admin_client.post(f"/admin/campaigns/{campaign.pk}/publish")
    later = local(5)
    response = admin_client.post(
        step(campaign, "delivery"),
        {
            "name": "Spring promo",
            "timezone": "Europe/Berlin",
            "send_at_local": later,
            "trigger_delay_minutes": "0",
        },
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.delivery_type == DeliveryType.ONE_TIME  # fixed once published
    assert campaign.next_run_at == campaign.send_at
    assert f"{campaign.send_at.astimezone(ZoneInfo('Europe/Berlin')):%Y-%m-%dT%H:%M}" == later


def test_a_sending_campaign_locks_who_and_what_and_says_why(admin_client, webhook, segment):
    campaign = ready(admin_client, webhook, segment)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    page = admin_client.get(step(campaign, "what")).content.decode()
    assert "This campaign is sending" in page and "Pause it to change them" in page
    response = admin_client.post(step(campaign, "what"), what(batch_size="7"), follow=True)
    assert "This campaign is sending" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.batch_size == 50
    goal = admin_client.post(
        step(campaign, "goal"), {"goal_event": "Charged", "goal_window_days": "3"}
    )
    assert goal.status_code == 302  # the goal only changes how the stats read
    campaign.refresh_from_db()
    assert campaign.goal_event == "Charged"


def test_the_pages_need_an_admin(client, db):
    for url in (NEW, "/admin/campaigns/1/edit/what", "/admin/campaigns/1/audience"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_a_body_that_cannot_be_built_for_a_member_is_not_published(admin_client, webhook, segment):
    campaign = ready(admin_client, webhook, segment)
    profile = make_profile(identity="ann", email="ann@example.com")
    make_profile_event(profile, "App Launched")
    Campaign.objects.filter(pk=campaign.pk).update(
        body_mode="custom",
        custom_body="<b>{{ profile.Email }}</b>",  # not JSON
    )
    page = admin_client.get(step(campaign, "overview")).content.decode()
    assert "For the audience&#x27;s first member, “ann”" in page
    assert "not valid JSON" in page and 'data-testid="publish"' not in page
    response = admin_client.post(f"/admin/campaigns/{campaign.pk}/publish", follow=True)
    assert "not valid JSON" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_a_finished_step_shows_a_tick_and_the_optional_goal_counts_once_passed(
    admin_client, webhook, segment
):
    campaign = ready(admin_client, webhook, segment)
    steps_shown = admin_client.get(step(campaign, "overview")).context["steps"]
    assert [done for _, done in steps_shown] == [True, True, True, True, True, False]
