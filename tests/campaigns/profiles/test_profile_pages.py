"""The profile list (prefix search, keyset pages, bounded counts) and the profile page."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Profile
from campaigns.profiles import views
from tests.factories import make_profile, make_profile_event, make_segment

LIST = reverse("campaigns:profiles")


def add_profile(identity, email="", **properties):
    return make_profile(identity=identity, email=email, properties=properties)


def add_event(profile, name, minutes_ago=0, **properties):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return make_profile_event(profile, name, properties=properties, occurred_at=at)


def identities(response):
    return [p.identity for p in response.context["page"].rows]


def page_of(pk):
    return reverse("campaigns:profile", args=[pk])


def test_it_lists_profiles_a_to_z_with_every_column(admin_client, db):
    grace = add_profile("grace", "grace@example.com", country="Canada", city="Toronto")
    add_profile("ada", "ada@example.com", country="United Kingdom")
    add_event(grace, "App Launched", minutes_ago=90)
    add_event(grace, "Charged", minutes_ago=5, amount=12)
    response = admin_client.get(LIST)
    assert response.status_code == 200
    assert identities(response) == ["ada", "grace"]
    row = response.context["page"].rows[1]
    assert (row.event_count, row.last_seen) == (2, grace.events.get(name="Charged").occurred_at)
    page = response.content.decode()
    for text in ["Identity", "Email", "Country", "Events", "Last seen", "Created",
                 "grace@example.com", "Canada", "Toronto", "United Kingdom", "No events yet",
                 page_of(grace.pk), "<strong>2</strong> profiles"]:  # fmt: skip
        assert text in page
    assert 'aria-current="page">Profiles</a>' in page


def test_search_matches_the_start_of_an_identity_or_an_email(admin_client, db):
    add_profile("GR-7", "x@example.com")
    add_profile("C100", "grace@example.com")
    add_profile("C200", "someone@grace.example")
    add_profile("C300", "ada@example.com")

    def found(q):
        return sorted(identities(admin_client.get(LIST, {"q": q})))

    assert found("GR") == ["C100", "GR-7"]  # identity as typed, e-mail in lower case
    assert found("Gra") == ["C100"]
    assert found("C") == ["C100", "C200", "C300"]
    assert found("  ada ") == ["C300"]
    assert found("%") == []  # a wildcard is a character, not "everything"
    assert found("nobody") == []
    assert "No profile starts with “nobody”" in admin_client.get(LIST, {"q": "nobody"}).text


def test_keyset_pages_walk_forward_and_back(admin_client, db):
    for n in range(60):
        add_profile(f"user-{n:03d}")
    first = admin_client.get(LIST)
    assert identities(first) == [f"user-{n:03d}" for n in range(50)]
    assert first.context["page"].previous_cursor is None
    second = admin_client.get(LIST, {"after": first.context["page"].next_cursor})
    assert identities(second) == [f"user-{n:03d}" for n in range(50, 60)]
    assert second.context["page"].next_cursor is None
    assert 'rel="prev"' in second.text
    back = admin_client.get(LIST, {"before": second.context["page"].previous_cursor})
    assert identities(back) == identities(first)


def test_search_pages_keep_the_search(admin_client, db):
    for n in range(55):
        add_profile(f"ada-{n:03d}")
        add_profile(f"bob-{n:03d}")
    first = admin_client.get(LIST, {"q": "ada"})
    after = first.context["page"].next_cursor
    assert f"q=ada&amp;after={after}" in first.text
    second = admin_client.get(LIST, {"q": "ada", "after": after})
    assert identities(second) == [f"ada-{n:03d}" for n in range(50, 55)]


def test_the_list_makes_the_same_queries_for_5_rows_as_for_50(admin_client, db):
    def queries_for(rows):
        Profile.objects.all().delete()
        for n in range(rows):
            profile = add_profile(f"p{n:03d}", country="Canada")
            add_event(profile, "App Launched")
        with CaptureQueriesContext(connection) as captured:
            assert len(identities(admin_client.get(LIST))) == rows
        return len(captured)

    assert queries_for(5) == queries_for(50)


def test_counts_stop_at_the_limit_and_never_count_every_row(admin_client, db, monkeypatch):
    monkeypatch.setattr("config.counts.COUNT_LIMIT", 3)
    monkeypatch.setattr(views, "COUNT_LIMIT", 3)
    for n in range(6):
        add_profile(f"p{n}")
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(LIST)
    # Counting stops after COUNT_LIMIT + 1 rows (the events' counts are for the page's ids).
    counts = [q["sql"] for q in captured if "COUNT(*)" in q["sql"].upper()]
    assert counts and all("LIMIT 4" in sql.upper() for sql in counts)
    shown = response.text.split('data-testid="profile-count">')[1].split("</span>")[0]
    assert "about" in shown or "more than 3" in shown
    assert "showing 6" in shown


def test_htmx_gets_only_the_results(admin_client, db):
    add_profile("ada")
    response = admin_client.get(LIST, {"q": "a"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="results"')
    assert "<html" not in response.text
    assert "HX-Request" in response["Vary"]


def test_a_search_too_long_is_refused_with_422(admin_client, db):
    response = admin_client.get(LIST, {"q": "x" * 201}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "This search can’t be run" in response.text


def test_a_broken_page_link_is_a_400(admin_client, db):
    assert admin_client.get(LIST, {"after": "not-a-cursor"}).status_code == 400


def test_the_profile_page_shows_identity_properties_and_recent_events(admin_client, db):
    profile = make_profile(
        identity="C1000042",
        email="ada@example.com",
        object_id="__g1234",
        properties={"country": "Canada", "age": 36, "vip": True, "tags": ["a", "b"]},
    )
    for n in range(55):
        add_event(profile, "App Launched", minutes_ago=100 + n, app_version=f"4.{n}")
    add_event(profile, "Charged", minutes_ago=1, amount=49.5, currency="CAD")
    response = admin_client.get(page_of(profile.pk))
    assert response.status_code == 200
    page = response.text
    for text in ["C1000042", "ada@example.com", "__g1234", "Canada", "36", "true",
                 "[&quot;a&quot;, &quot;b&quot;]", "Charged", "49.5", "CAD",
                 "latest 50 of 56"]:  # fmt: skip
        assert text in page
    events = response.context["events"]
    assert len(events) == 50 and events[0].name == "Charged"
    assert response.context["event_count"] == 56
    # the oldest events are beyond the latest 50 (matched as shown, not inside a timestamp)
    assert "app_version</span>: 4.48<" in page
    assert "app_version</span>: 4.49<" not in page and "app_version</span>: 4.54<" not in page


def test_property_values_are_shown_as_text_never_as_markup(admin_client, db):
    profile = add_profile("mallory", nickname="<script>alert(1)</script>")
    add_event(profile, "Searched", query="<img src=x onerror=alert(2)>")
    page = admin_client.get(page_of(profile.pk)).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<script>alert(1)" not in page and "<img src=x" not in page


def test_the_push_token_shows_only_its_ends(admin_client, db):
    token = "fcmA" + "s3cr3t" * 20 + "Z9yX"
    profile = make_profile(identity="t1", push_token=token)
    page = admin_client.get(page_of(profile.pk)).text
    assert "fcmA…Z9yX" in page
    assert token not in page and "s3cr3t" not in page
    short = make_profile(identity="t2", push_token="short-secret")
    page = admin_client.get(page_of(short.pk)).text
    assert "short" not in page.split('data-testid="identity"')[1].split("</table>")[0]
    assert views.mask_token("") == ""


def test_the_profile_page_lists_the_segments_it_belongs_to(admin_client, db):
    profile = add_profile("ada", country="Canada")
    add_event(profile, "Charged", minutes_ago=60)
    canada = {"category": "user_properties",
              "profile": [{"property": "country", "op": "eq", "value": "Canada"}]}  # fmt: skip
    germany = {"category": "user_properties",
               "profile": [{"property": "country", "op": "eq", "value": "Germany"}]}  # fmt: skip
    buyers = {"category": "single_action", "action": {"event": "Charged"}}
    make_segment(canada, name="Canadians", description="Lives in Canada")
    make_segment(germany, name="Germans")
    make_segment(buyers, name="Buyers")
    make_segment({"category": "no_such_category"}, name="Broken")
    response = admin_client.get(page_of(profile.pk))
    assert [m.segment.name for m in response.context["memberships"]] == ["Buyers", "Canadians"]
    section = response.text.split('data-testid="segments"')[1].split('data-testid="events"')[0]
    assert "Canadians" in section and "Lives in Canada" in section and "Buyers" in section
    assert "Germans" not in section
    assert "Skipped “Broken”: its rule can’t be read" in section


def test_a_profile_in_no_segment_says_so(admin_client, db):
    profile = add_profile("nobody")
    assert "No segments saved yet." in admin_client.get(page_of(profile.pk)).text
    make_segment({"category": "single_action", "action": {"event": "Charged"}}, name="Buyers")
    assert "In none of the 1 saved segment." in admin_client.get(page_of(profile.pk)).text


def test_an_unknown_profile_is_a_404(admin_client, db):
    assert admin_client.get(page_of(999999)).status_code == 404


@pytest.mark.parametrize("url", [LIST, "/admin/profiles/1"])
def test_pages_need_a_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", [LIST, "/admin/profiles/1"])
def test_pages_need_the_admin_role(member_client, url):
    add_profile("ada")
    assert member_client.get(url).status_code == 403


@pytest.mark.parametrize("url", [LIST, "/admin/profiles/1"])
def test_pages_take_only_get(admin_client, url):
    assert admin_client.post(url).status_code == 405
