"""A custom body may escape a lone surrogate ("\\ud800"): valid JSON, but its text cannot
be encoded as UTF-8. The preview and the create page show it as the escape, and a send
carries it as written; nothing answers 500."""

import json

from campaigns.content.compose import preview
from campaigns.models import Campaign, Profile
from tests.campaigns.wizard.test_wizard_pages import create, step, what

BODY = '{"a": "\\ud800", "to": {{ profile.Email | json }}}'


def test_the_preview_shows_a_lone_surrogate_as_its_escape(db):
    member = Profile.objects.create(identity="ann", email="ann@example.com")
    campaign = Campaign.objects.create(name="Odd", body_mode="custom", custom_body=BODY)

    shown = preview(campaign, [member])

    shown.body.encode()  # the page can be written out
    assert "\\ud800" in shown.body
    assert json.loads(shown.body)["to"] == "ann@example.com"


def test_the_what_step_and_its_body_preview_answer_without_a_500(admin_client, db):
    Profile.objects.create(identity="ann", email="ann@example.com")
    campaign = create(admin_client)
    fields = what(body_mode="custom", custom_body=BODY)

    saved = admin_client.post(step(campaign, "what"), fields)
    shown = admin_client.post(f"/admin/campaigns/{campaign.pk}/body-preview", fields)

    assert saved.status_code == 302
    assert shown.status_code == 200
    assert "\\ud800" in shown.content.decode()
    assert admin_client.get(step(campaign, "overview")).status_code == 200
