"""The create-campaign steps, which of them a user may still change, and why not.

A campaign is saved as a draft at every step. Once published, what a run reads while
it sends (who, what, the webhook) is locked while it sends, so every member of one run
gets the same thing; pausing unlocks it. Finished campaigns keep the settings they
were sent with. The goal only changes how the stats read the sends, so it stays
editable.
"""

from dataclasses import dataclass

from campaigns.models import Campaign, CampaignStatus, DeliveryType


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    summary: str


STEPS = [
    Step("delivery", "Delivery", "Type and when"),
    Step("webhook", "Webhook", "Where it goes"),
    Step("goal", "Goal", "Optional: what counts as success"),
    Step("who", "Who", "Segment, cap, control group"),
    Step("what", "What", "Query, body, test"),
    Step("overview", "Overview", "Check and publish"),
]
SLUGS = [step.slug for step in STEPS]
ALWAYS_EDITABLE = {"goal", "overview"}

SENDING = (
    "This campaign is sending: who receives it, what is sent and where are locked, so "
    "every member of a run gets the same thing. Pause it to change them."
)
LISTENING = (
    "This live campaign is listening for its event: who receives it, what is sent and "
    "where are locked while it does. Pause it to change them."
)
FINISHED = (
    "This campaign has finished: its settings stay as they were sent, so its stats "
    "keep meaning what they say. Only its goal can change."
)
SCHEDULED_TYPE = (
    "The delivery type of a published campaign cannot change; stop it and create another."
)


def next_step(slug: str) -> str:
    return SLUGS[min(SLUGS.index(slug) + 1, len(SLUGS) - 1)]


def locked_reason(campaign: Campaign, slug: str) -> str:
    """Why ``slug`` cannot be changed now ("" when it can)."""
    if slug in ALWAYS_EDITABLE:
        return ""
    status = campaign.status
    if status in (CampaignStatus.COMPLETED, CampaignStatus.STOPPED):
        return FINISHED
    if status == CampaignStatus.RUNNING:
        return LISTENING if campaign.delivery_type == DeliveryType.LIVE else SENDING
    return ""


def done(campaign: Campaign) -> dict[str, bool]:
    """Which steps hold what publishing needs (the overview lists what is missing)."""
    when = {
        DeliveryType.ONE_TIME: campaign.send_at is not None,
        DeliveryType.RECURRING: bool(campaign.recurrence),
        DeliveryType.LIVE: bool(campaign.trigger_event),
    }[campaign.delivery_type]
    body = campaign.body_mode != "custom" or bool(campaign.custom_body.strip())
    who = campaign.segment_id is not None or bool(campaign.rule)
    what = body and (campaign.body_mode == "custom" or bool(campaign.profile_fields))
    return {
        "delivery": bool(campaign.name) and when,
        "webhook": campaign.webhook_id is not None,
        "goal": bool(campaign.goal_event) or who or what,  # optional: passed over is done
        "who": who,
        "what": what,
        "overview": campaign.status != CampaignStatus.DRAFT,
    }


def resume_step(campaign: Campaign) -> str:
    """Where "Edit" opens: a draft's first unfinished step, else the overview."""
    if campaign.status == CampaignStatus.DRAFT:
        finished = done(campaign)
        return next((slug for slug in SLUGS if not finished[slug]), "overview")
    return "overview"
