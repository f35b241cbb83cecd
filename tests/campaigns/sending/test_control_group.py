"""The control group's size, said before publishing: how many members a run starting now
would hold out (exactly, as fan-out picks them), on the Who step and the overview, with a
warning when that is too few to measure the goal's uplift."""

import pytest

from campaigns.models import Campaign
from campaigns.sending import control_group, fanout
from tests.factories import make_campaign, make_profiles, make_segment

EVERYONE = {"category": "user_properties", "profile": [{"property": "plan", "op": "exists"}]}


@pytest.fixture
def ten(transactional_db):
    """Ten members. Committed: on PostgreSQL a run reads members on a second connection."""
    make_profiles(10, identity="user-{}", first=0, properties={"plan": "gold"})


def campaign(**fields) -> Campaign:
    return make_campaign(**{"rule": EVERYONE, "status": "running", "control_percent": 20} | fields)


def held_out_page(client, sale: Campaign, **form) -> str:
    return client.get(f"/admin/campaigns/{sale.pk}/held-out", form).content.decode()


@pytest.mark.parametrize("percent", [20, 50, 90])
def test_the_count_is_exactly_who_a_run_holds_out(ten, percent):
    sale = campaign(control_percent=percent)

    held = control_group.held_out(sale)
    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert (held.members, held.held, held.exact) == (10, run.control, True)


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_a_capped_run_holds_out_only_the_members_it_reads_before_its_cap(ten, cap):
    sale = campaign(control_percent=50, target_cap=cap)

    held = control_group.held_out(sale)
    run = fanout.run_occurrence(sale.pk, "manual-1")

    assert held.held == run.control and run.targets <= cap


def test_a_big_audience_gets_the_expected_share_said_to_be_about(ten, monkeypatch, admin_client):
    monkeypatch.setattr(control_group, "EXACT_UP_TO", 5)
    sale = campaign(control_percent=30)

    held = control_group.held_out(sale)

    assert (held.members, held.held, held.exact) == (10, 3, False)
    assert "About <strong>3</strong> of the 10 members" in held_out_page(admin_client, sale)


def test_too_few_held_out_is_warned_about(ten, admin_client):
    sale = campaign(control_percent=20)
    held = control_group.held_out(sale)

    page = held_out_page(admin_client, sale)

    assert f"<strong>{held.held}</strong> of the 10 members now would be held out (20%)" in page
    assert 'data-testid="held-out-warning"' in page
    assert "too few" in page and "fewer than 100" in page


def test_nobody_held_out_is_said_in_so_many_words(ten, admin_client):
    # 1 % of ten members: most campaigns hold out nobody, the case issue 23 saw. Which
    # members the hash picks depends on the ids, so take the first campaign that does.
    sale = next(
        s
        for s in (campaign(control_percent=1, name=f"Sale {n}") for n in range(20))
        if control_group.held_out(s).held == 0
    )

    page = held_out_page(admin_client, sale)

    assert "Nobody is held out: too few to measure the goal" in page


def test_enough_held_out_is_not_warned_about(ten, admin_client, monkeypatch):
    monkeypatch.setattr(control_group, "TOO_FEW", 1)
    sale = campaign(control_percent=90)  # nobody of ten at 90 %: one chance in 10^10

    page = held_out_page(admin_client, sale)

    assert "held out (90%)" in page and "held-out-warning" not in page


def test_without_a_control_group_there_is_nothing_to_warn_about(ten, admin_client):
    page = held_out_page(admin_client, campaign(control_percent=0))

    assert "No control group: all 10 members now would be sent to" in page
    assert "held-out-warning" not in page


def test_the_who_step_counts_its_form_before_it_is_saved(ten, admin_client):
    sale = campaign(control_percent=0, status="draft")
    segment = make_segment(EVERYONE, name="Gold")
    form = {"audience": "segment", "segment": segment.pk, "control_percent": 50}

    page = held_out_page(admin_client, sale, **form)

    expected = control_group.held_out(Campaign(pk=sale.pk, segment=segment, control_percent=50))
    assert f"<strong>{expected.held}</strong> of the 10 members" in page
    sale.refresh_from_db()
    assert (sale.control_percent, sale.segment_id) == (0, None)  # nothing saved


def test_a_form_it_cannot_read_counts_what_is_saved(ten, admin_client):
    sale = campaign(control_percent=20, status="draft")

    page = held_out_page(admin_client, sale, audience="segment", control_percent="lots")

    assert "held out (20%)" in page


def test_without_an_audience_it_asks_for_one(db, admin_client):
    sale = campaign(rule=None, status="draft")

    assert "Choose who receives it" in held_out_page(admin_client, sale)


def test_the_who_step_and_the_overview_load_the_count_after_the_page(ten, admin_client):
    sale = campaign(status="draft")
    url = f"/admin/campaigns/{sale.pk}/held-out"

    for slug in ("who", "overview"):
        page = admin_client.get(f"/admin/campaigns/{sale.pk}/edit/{slug}").content.decode()
        assert f'hx-get="{url}"' in page, slug
