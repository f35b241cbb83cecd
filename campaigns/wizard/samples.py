"""The sample member the create page previews, tests and checks a campaign with."""

from campaigns import sending
from campaigns.content import compose
from campaigns.models import Campaign, Profile
from campaigns.segments import evaluate


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
    try:
        found = evaluate.sample(sending.audience(campaign), 1)
    except (sending.NothingToSend, ValueError):
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
    return sending.sample_event_properties(campaign, profile, anyone=True)


def problems(campaign: Campaign) -> list[str]:
    """Why the payload cannot be built for the sample member (a body that does not
    parse, a linked source that fails): every delivery like it would fail."""
    profile, note = member(campaign)
    preview = compose.preview(campaign, [profile], event(campaign, profile))
    return [
        f"For {note}: " + (f"line {p.line}: " if p.line else "") + p.message
        for p in preview.problems
    ]
