"""The sample member the create page previews, tests and checks a campaign with."""

from campaigns import fanout
from campaigns.content import compose
from campaigns.models import Campaign, DeliveryType, Profile, ProfileEvent
from campaigns.segments import evaluate, rules


def member(campaign: Campaign, identity: str = "") -> tuple[Profile, str]:
    """The profile a preview or test uses, and which one it is, in words ("the
    audience's first member, “ann”")."""
    identity = identity.strip()
    if identity:
        profile = Profile.objects.filter(identity=identity).first()
        if profile:
            return profile, f"profile “{profile.identity}”"
        missing = f" (there is no profile “{identity}”)"
    else:
        missing = ""
    data = campaign.segment.rule if campaign.segment_id else campaign.rule
    if data:
        try:
            found = evaluate.sample(rules.parse(data), 1)
        except ValueError:
            found = []
        if found:
            return found[0], f"the audience's first member, “{found[0].identity}”{missing}"
    profile = Profile.objects.order_by("identity").first()
    if profile:
        return profile, f"profile “{profile.identity}” (no audience member yet){missing}"
    sample = Profile(identity="sample-user", email="sample@example.com", object_id="sample")
    return sample, f"an example profile (there are no profiles yet){missing}"


def event(campaign: Campaign, profile: Profile) -> dict | None:
    """A live campaign's preview shows a triggering event's properties: the member's
    latest such event, or anyone's. Another shows the member's latest event that
    qualifies it for an action segment, as its runs send."""
    if campaign.delivery_type != DeliveryType.LIVE:
        return fanout.member_event_properties(campaign, profile.pk)
    if not campaign.trigger_event:
        return None
    events = ProfileEvent.objects.filter(name=campaign.trigger_event).order_by("-occurred_at")
    event = (events.filter(profile_id=profile.pk).first() if profile.pk else None) or (
        events.first()
    )
    return event.properties if event else {}


def problems(campaign: Campaign) -> list[str]:
    """Why the payload cannot be built for the sample member (a body that does not
    parse, a linked source that fails): every delivery like it would fail."""
    profile, note = member(campaign)
    preview = compose.preview(campaign, [profile], event(campaign, profile))
    return [
        f"For {note}: " + (f"line {p.line}: " if p.line else "") + p.message
        for p in preview.problems
    ]
