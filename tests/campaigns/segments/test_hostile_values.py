"""No stored value can break a segment: one that cannot compare simply does not match.

Each class of value is stored on one profile ("odd"), in a profile property and in an
event property, beside a profile whose values are ordinary ("ten"). Every comparison
then still answers, "ten" matches as it always does, and "odd" matches only what its
value really satisfies. Runs on PostgreSQL and on SQLite.
"""

import json
from datetime import timedelta

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from campaigns.models import Profile, ProfileEvent
from campaigns.segments import rules
from tests.campaigns.segments.conftest import NOW
from webhooks.models import ApiKey

DAY = (NOW - timedelta(days=3)).date().isoformat()  # "N days ago" with N = 3

NUMBERS = {
    "amount > 5": {"property": "amount", "op": "gt", "value": 5},
    "amount >= 5 (as text)": {"property": "amount", "op": "gte", "value": "5"},
    "amount < 50": {"property": "amount", "op": "lt", "value": 50},
    "amount <= 50.5": {"property": "amount", "op": "lte", "value": 50.5},
    "amount = 10": {"property": "amount", "op": "eq", "value": 10},
    "amount in 10, 11": {"property": "amount", "op": "in", "value": [10, 11], "type": "number"},
    "amount != 7": {"property": "amount", "op": "ne", "value": 7},
}
DATES = {
    "day >= 2026-01-01": {"property": "day", "op": "gte", "value": "2026-01-01"},
    "day < 2027-01-01": {"property": "day", "op": "lt", "value": "2027-01-01"},
    "day = DAY": {"property": "day", "op": "eq", "value": DAY, "type": "date"},
}
TEXTS = {
    "title = Ten": {"property": "title", "op": "eq", "value": "Ten"},
    "title contains en": {"property": "title", "op": "contains", "value": "en"},
    "title > A": {"property": "title", "op": "gt", "value": "A", "type": "text"},
    "title is set": {"property": "title", "op": "exists"},
}
CONDITIONS = NUMBERS | DATES | TEXTS
DATE_PROPERTIES = {
    "day was 3 days ago": {"when": "days_ago", "days": 3},
    "day was 1 or more days ago": {"when": "at_least_days_ago", "days": 1},
    "day is today": {"when": "today"},
    "day has its anniversary": {"when": "anniversary"},
}
# What the ordinary profile matches: everything but "is today" and the anniversary.
TEN_MATCHES = set(CONDITIONS) | {"day was 3 days ago", "day was 1 or more days ago"}


@pytest.fixture
def ten(audience):
    values = {"amount": 10, "day": DAY, "title": "Ten"}
    profile = audience.profile("ten", **values)
    audience.event(profile, "Charged", NOW - timedelta(days=1), **values)
    return audience


def hostile(value) -> dict:
    return {"amount": value, "day": value, "title": value}


def store_odd(audience, *values) -> list[str]:
    """One profile per value ("odd-0", "odd-1", ...), with an event holding it too."""
    identities = []
    for number, value in enumerate(values):
        profile = audience.profile(f"odd-{number}", **hostile(value))
        audience.event(profile, "Charged", NOW - timedelta(days=1), **hostile(value))
        identities.append(profile.identity)
    return identities


def store_odd_json(*texts: str) -> list[str]:
    """Store JSON texts as they stand, as another client writing the table could
    (Python's json cannot make some of them, 1e400 for one)."""
    identities = []
    for number, text in enumerate(texts):
        profile = Profile.objects.create(identity=f"odd-{number}")
        event = ProfileEvent.objects.create(profile=profile, name="Charged", occurred_at=NOW)
        properties = "{" + ", ".join(f'"{key}": {text}' for key in hostile(0)) + "}"
        cast = "::jsonb" if connection.vendor == "postgresql" else ""
        with connection.cursor() as cursor:
            for model, pk in ((Profile, profile.pk), (ProfileEvent, event.pk)):
                cursor.execute(
                    f"UPDATE {model._meta.db_table} SET properties = %s{cast} WHERE id = %s",
                    [properties, pk],
                )
        identities.append(profile.identity)
    return identities


def odd_matches(audience) -> dict[str, set[str]]:
    """Every comparison, on profile and on event properties, and in every category
    that compares values; checks "ten" is unaffected and returns what each other
    profile matched (the same on both sides, or the test fails)."""
    matched: dict[str, set[str]] = {
        identity: set()
        for identity in Profile.objects.exclude(identity="ten").values_list("identity", flat=True)
    }
    for label, condition in CONDITIONS.items():
        on_profile = audience.members({"category": "user_properties", "profile": [condition]})
        on_event = audience.members(
            {
                "category": "single_action",
                "action": {"event": "Charged", "where": [condition]},
            }
        )
        assert on_profile == on_event, label
        assert ("ten" in on_profile) == (label in TEN_MATCHES), label
        for identity in on_profile - {"ten"}:
            matched[identity].add(label)
    for label, when in DATE_PROPERTIES.items():
        found = [
            audience.members(
                {
                    "category": "date_property",
                    "date": {"source": "profile", "property": "day", **when},
                }
            ),
            audience.members(
                {
                    "category": "date_property",
                    "date": {"source": "event", "event": "Charged", "property": "day", **when},
                }
            ),
        ]
        assert found[0] == found[1], label
        assert ("ten" in found[0]) == (label in TEN_MATCHES), label
        for identity in found[0] - {"ten"}:
            matched[identity].add(label)
    return matched


def every_category_answers(audience) -> None:
    """The categories that filter events by their properties, each with a number, a
    date and a text comparison on the odd values: all answer."""
    where = [NUMBERS["amount > 5"], DATES["day >= 2026-01-01"], TEXTS["title contains en"]]
    action = {"event": "Charged", "where": where}
    for rule in (
        {"category": "actions", "actions": [action, action]},
        {
            "category": "inaction_within_time",
            "action": action,
            "missing": action,
            "within": {"value": 1, "unit": "hours"},
        },
        {"category": "inaction", "action": action, "missing": action},
        {"category": "user_properties", "profile": where, "action": action},
    ):
        assert "ten" in audience.members(rule), rule["category"]


NOT_A_NUMBER = {"amount != 7"}  # "does not equal" includes whatever is not a number
TYPED = set(NUMBERS) | set(DATES) | set(DATE_PROPERTIES)
BIG = {"amount > 5", "amount >= 5 (as text)", "amount != 7"}
SMALL = {"amount < 50", "amount <= 50.5", "amount != 7"}


def typed(matched: dict[str, set[str]]) -> list[set[str]]:
    """The typed comparisons each odd profile matched, in the order stored."""
    return [matched[identity] & TYPED for identity in sorted(matched, key=_number)]


def _number(identity: str) -> int:
    return int(identity.rsplit("-", 1)[1])


def test_a_number_past_double_range_compares_as_the_number_it_is(ten):
    store_odd(ten, "1" + "0" * 400, "-1" + "0" * 400, 10**3999, "1" + "0" * 400 + ".5")

    assert typed(odd_matches(ten)) == [BIG, SMALL, BIG, BIG]
    every_category_answers(ten)


def test_a_json_number_past_double_range_compares_as_the_number_it_is(ten):
    store_odd_json("1e400", "-1e400", "1e-400", "-1" + "0" * 4000)

    assert typed(odd_matches(ten)) == [BIG, SMALL, SMALL, SMALL]
    every_category_answers(ten)


def test_numeric_text_longer_than_any_number_compared_is_not_a_number(ten):
    store_odd(ten, "9" * (rules.MAX_NUMBER_DIGITS + 1), "-" + "9" * rules.MAX_NUMBER_DIGITS)

    assert typed(odd_matches(ten)) == [NOT_A_NUMBER, NOT_A_NUMBER]


def test_text_that_merely_looks_numeric_is_not_a_number(ten):
    values = ["NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1e5", "0x10", " 5", "5."]
    values += [".5", "--5", "5-", "١٢", "５", "5\n"]

    store_odd(ten, *values)

    assert typed(odd_matches(ten)) == [NOT_A_NUMBER] * len(values)
    every_category_answers(ten)


def test_a_very_long_text_compares_as_text(ten):
    store_odd(ten, "Z" + "é" * 200_000)

    assert odd_matches(ten) == {"odd-0": NOT_A_NUMBER | {"title > A", "title is set"}}


def test_a_text_that_is_not_a_date_matches_no_date_comparison(ten):
    values = ["99999-01-01", "2020-13-45", "2020-00-10", "2020-01-32", "0000-00-00", "2020-1-1"]
    values += ["２０２０-01-01", "2020/01/01", "-2020-01-01"]
    store_odd(ten, *values)

    assert typed(odd_matches(ten)) == [NOT_A_NUMBER] * len(values)


def test_a_date_followed_by_a_long_text_compares_as_its_date(ten):
    store_odd(ten, DAY + "T10:00:00" + "x" * 100_000)

    assert typed(odd_matches(ten)) == [
        NOT_A_NUMBER | set(DATES) | {"day was 3 days ago", "day was 1 or more days ago"}
    ]


def test_booleans_nulls_lists_and_objects_match_no_typed_comparison(ten):
    values = [True, None, [1, 2], {"a": 1}, ""]
    store_odd(ten, *values)

    assert typed(odd_matches(ten)) == [NOT_A_NUMBER] * len(values)


def test_text_the_database_cannot_hold_is_refused_or_stored_harmlessly(ten):
    """PostgreSQL refuses NUL and lone surrogates in jsonb (the APIs answer 422, see
    below); SQLite stores what the ORM writes, and the comparisons still answer."""
    values = ["a\x00b", "\ud800", "x\udfff"]
    if connection.vendor == "postgresql":
        for value in values:
            with pytest.raises(DataError), transaction.atomic():
                Profile.objects.create(identity="odd", properties={"amount": value})
        return
    store_odd(ten, *values)

    assert typed(odd_matches(ten)) == [NOT_A_NUMBER] * len(values)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_cannot_be_stored_by_either_database(db, value):
    # Django writes them as json.dumps does ("NaN"), which is not JSON: jsonb refuses
    # it, and SQLite's JSONField has a CHECK (JSON_VALID) constraint.
    with pytest.raises((DataError, IntegrityError)):
        Profile.objects.create(identity="odd", properties={"amount": value})


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (10**400, "auto", set()),
        (-(10**400), "auto", {"ten"}),
        ("1" + "0" * 400, "auto", set()),
        ("-1" + "0" * 400, "number", {"ten"}),
        (1.5e308, "auto", set()),
        (5e-324, "auto", {"ten"}),
    ],
)
def test_a_rule_value_past_double_range_compares_exactly(ten, value, kind, expected):
    condition = {"property": "amount", "op": "gt", "value": value, "type": kind}

    assert ten.members({"category": "user_properties", "profile": [condition]}) == expected


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (10**1000, "auto", "the number is too long to compare (numbers have at most 1000"),
        ("9" * 1001, "auto", r"'9+\.\.\. is too long to compare"),
        ("NaN", "number", "'NaN' is not a number"),
        ("Infinity", "number", "'Infinity' is not a number"),
        (float("nan"), "auto", "nan is not a number"),
        (float("inf"), "number", "inf is not a number"),
        ("99999-01-01", "date", "'99999-01-01' is not a date"),
    ],
)
def test_a_rule_value_that_cannot_compare_is_refused_with_its_reason(value, kind, message):
    condition = {"property": "amount", "op": "gt", "value": value, "type": kind}

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        rules.parse({"category": "user_properties", "profile": [condition]})


# Through the APIs, as the issue reports it.


@pytest.fixture
def api(client, db):
    _, key = ApiKey.issue("CRM")

    def post(url: str, body) -> object:
        data = body if isinstance(body, str) else json.dumps(body)
        headers = {"Authorization": f"Bearer {key}"}
        return client.post(url, data, content_type="application/json", headers=headers)

    post.get = lambda url: client.get(url, headers={"Authorization": f"Bearer {key}"})
    return post


def segment_answers(api) -> dict:
    rule = {
        "category": "user_properties",
        "profile": [{"property": "amount", "op": "lt", "value": 50}],
        "action": {"event": "Charged", "where": [{"property": "amount", "op": "gt", "value": 5}]},
    }
    response = api("/api/v1/segments/preview", rule)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    "body",
    [
        '{"amount": 1' + "0" * 400 + "}",
        '{"amount": "1' + "0" * 400 + '"}',
        '{"amount": ' + "9" * 4000 + "}",
        '{"amount": "NaN"}',
        '{"amount": "-inf"}',
    ],
    ids=["integer-400-digits", "text-400-digits", "integer-4000-digits", "nan-text", "inf-text"],
)
def test_a_value_posted_through_the_apis_leaves_segments_answering(api, body):
    for identity in ("ten", "odd"):
        properties = '{"amount": 10}' if identity == "ten" else body
        profile = f'{{"identity": "{identity}", "properties": {properties}}}'
        assert api("/api/v1/profiles", profile).status_code == 200
        event = f'{{"event_type": "Charged", "identity": "{identity}", "payload": {properties}}}'
        assert api("/api/v1/events", event).status_code == 202

    assert segment_answers(api) == {"count": 1, "sample": ["ten"]}


@pytest.mark.parametrize(
    "body",
    ['{"amount": 1e400}', '{"amount": NaN}', '{"amount": -Infinity}', '{"amount": "a\\u0000b"}']
    + ['{"amount": "\\ud800"}', '{"amo\\u0000unt": 1}'],
)
def test_a_value_no_database_can_hold_is_refused_by_the_apis_not_a_500(api, body):
    Profile.objects.create(identity="ten", properties={"amount": 10})

    profile = api("/api/v1/profiles", f'{{"identity": "odd", "properties": {body}}}')
    event = api(
        "/api/v1/events", f'{{"event_type": "Charged", "identity": "odd", "payload": {body}}}'
    )

    assert (profile.status_code, event.status_code) in ((400, 400), (422, 422)), (
        profile.content,
        event.content,
    )
    assert not Profile.objects.filter(identity="odd").exists()
    assert segment_answers(api)["count"] == 0  # ten has no Charged event


def test_a_huge_rule_value_previews_rather_than_answers_500(api):
    Profile.objects.create(identity="ten", properties={"amount": 10})
    rule = {"category": "user_properties", "profile": [{"property": "amount", "op": "lt"}]}

    for value, status, count in [(10**400, 200, 1), (-(10**400), 200, 0), (10**1000, 422, None)]:
        rule["profile"][0]["value"] = value
        response = api("/api/v1/segments/preview", rule)
        assert response.status_code == status, response.content
        if count is not None:
            assert response.json()["count"] == count
