"""How many members a campaign's control group holds out, for its audience as it is now.

Fan-out holds a member out by a hash of campaign and profile (``fanout.in_control``),
not by drawing exactly ``percent`` of the audience, so 20 % of 10 members may be 0, 1
or 4 people. For an audience of up to ``EXACT_UP_TO`` members we therefore walk its
ids the way a run does (ascending, stopping where the target cap is reached) and count
exactly who would be held out. Above that the hash's share is within a fraction of a
percent of ``percent`` (the binomial spread shrinks with the square root of the size),
so the figure is the expected one and is said to be "about".
"""

from dataclasses import dataclass

from campaigns.models import Campaign
from campaigns.segments import evaluate
from campaigns.sending import fanout

# Held out members below which an uplift cannot be measured. A conversion rate measured
# on 100 people has a 95 % margin of about ±10 points, already wider than most uplifts a
# campaign hopes for; on fewer (let alone none, when the stats say there is no control
# group) the comparison is noise.
TOO_FEW = 100
# Members up to which the held-out count is exact: reading this many ids and hashing
# them takes a fraction of a second. Past it, even 1 % holds out ten times TOO_FEW.
EXACT_UP_TO = 100_000


@dataclass(frozen=True)
class HeldOut:
    members: int  # in the audience now, before the cap and the control group
    percent: int
    held: int  # held out by a run starting now
    exact: bool

    @property
    def too_few(self) -> bool:
        return self.percent > 0 and self.held < TOO_FEW


def held_out(campaign: Campaign, percent: int | None = None, cap: int | None = None) -> HeldOut:
    """Who a run starting now would hold out, with the campaign's control percent and
    target cap (or the ones given, as the Who step's form has them before saving).

    Raises ``fanout.NothingToSend`` without an audience rule, and ValueError when the
    saved rule is no longer valid.
    """
    rule = fanout.audience(campaign)
    percent = campaign.control_percent if percent is None else percent
    cap = campaign.target_cap if cap is None else cap
    members = evaluate.count(rule)
    if percent <= 0:
        return HeldOut(members, 0, 0, exact=True)
    if members > EXACT_UP_TO:
        return HeldOut(members, percent, _expected(members, percent, cap), exact=False)
    ids = evaluate.members(rule).order_by("pk").values_list("pk", flat=True)
    held = targets = 0
    for pk in ids.iterator(chunk_size=evaluate.CHUNK):
        if cap is not None and targets >= cap:
            break  # a capped run stops at its last target: later members are not read
        if fanout.in_control(campaign.pk, pk, percent):
            held += 1
        else:
            targets += 1
    return HeldOut(members, percent, held, exact=True)


def _expected(members: int, percent: int, cap: int | None) -> int:
    held = members * percent / 100
    if cap is not None and members - held > cap:
        # The run stops after ``cap`` targets, having held out percent / (100 - percent)
        # of a member for each one.
        held = cap * percent / (100 - percent)
    return round(held)
