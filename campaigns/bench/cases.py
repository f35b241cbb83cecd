"""One realistic rule per category, as the builder saves them, for ``bench_segments``."""

LAST_30_DAYS = {"kind": "last_days", "days": 30}

RULES = {
    "single_action": {
        "category": "single_action",
        "action": {"event": "Charged", "where": [{"property": "amount", "op": "gt", "value": 100}]},
        "window": LAST_30_DAYS,
    },
    "actions": {
        "category": "actions",
        "actions": [{"event": "App Launched"}, {"event": "Notification Viewed"}],
        "window": {"kind": "last_days", "days": 7},
    },
    "inaction_within_time": {
        "category": "inaction_within_time",
        "action": {"event": "Added To Cart"},
        "missing": {"event": "Charged"},
        "within": {"value": 1, "unit": "hours"},
        "window": LAST_30_DAYS,
    },
    "inaction": {
        "category": "inaction",
        "action": {"event": "App Launched"},
        "missing": {"event": "Notification Viewed"},
        "window": LAST_30_DAYS,
    },
    # A full pass over the profiles' properties: no index can serve "month and day".
    "date_property": {
        "category": "date_property",
        "date": {"source": "profile", "property": "birthday", "when": "anniversary"},
    },
    "user_properties": {
        "category": "user_properties",
        "action": {"event": "Charged"},
        "window": LAST_30_DAYS,
        "profile": [{"property": "country", "op": "eq", "value": "Canada"}],
    },
}
