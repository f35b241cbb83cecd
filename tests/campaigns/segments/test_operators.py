"""Property operators and typed comparison, on profile properties."""

import pytest


@pytest.fixture
def people(audience):
    audience.profile("ada", country="Canada", age=36, vip=True, joined="2024-02-01", city="Toronto")
    audience.profile("bob", country="canada", age="41", vip=False, joined="2025-06-30")
    audience.profile("cy", country="France", age=17.5, joined="2026-01-01T10:00:00+01:00")
    audience.profile("di", age="unknown", joined="yesterday", country=None)
    return audience


def only(people, *conditions) -> set[str]:
    return people.members({"category": "user_properties", "profile": list(conditions)})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"property": "country", "op": "eq", "value": "Canada"}, {"ada"}),
        ({"property": "country", "op": "ne", "value": "Canada"}, {"bob", "cy", "di"}),
        ({"property": "country", "op": "contains", "value": "ANA"}, {"ada", "bob"}),
        ({"property": "country", "op": "in", "value": ["France", "Canada"]}, {"ada", "cy"}),
        ({"property": "country", "op": "exists"}, {"ada", "bob", "cy"}),
        ({"property": "city", "op": "not_exists"}, {"bob", "cy", "di"}),
        ({"property": "age", "op": "gt", "value": 36}, {"bob"}),
        ({"property": "age", "op": "gte", "value": "36"}, {"ada", "bob"}),
        ({"property": "age", "op": "lt", "value": 18}, {"cy"}),
        ({"property": "age", "op": "eq", "value": 41}, {"bob"}),
        ({"property": "vip", "op": "eq", "value": True}, {"ada"}),
        ({"property": "vip", "op": "eq", "value": "no", "type": "boolean"}, {"bob"}),
        ({"property": "joined", "op": "gte", "value": "2025-01-01"}, {"bob", "cy"}),
        ({"property": "joined", "op": "lt", "value": "2025-06-30"}, {"ada"}),
        (
            {"property": "joined", "op": "lte", "value": "2025-06-30", "type": "date"},
            {"ada", "bob"},
        ),
    ],
)
def test_operator(people, condition, expected):
    assert only(people, condition) == expected


def test_conditions_all_hold(people):
    assert only(
        people,
        {"property": "country", "op": "contains", "value": "canada"},
        {"property": "age", "op": "lt", "value": 40},
    ) == {"ada"}
