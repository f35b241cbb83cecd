"""Rules that are valid but can never select anyone, said in a sentence."""

from campaigns.segments import rules
from campaigns.segments.conditions import ORDERING, PropertyFilter


def never_matches(rule: rules.Rule) -> str | None:
    """Why the rule can never match a profile, or None when it can."""
    for label, filters in _filter_groups(rule):
        reason = _contradiction(filters)
        if reason:
            return f"{label}: {reason}"
    if (
        rule.category == "inaction_within_time"
        and rule.window.kind == "last_days"
        and rule.within.delta.total_seconds() >= rule.window.days * 86400
    ):
        return (
            f"only a {rule.action.event} whose {rule.within.describe()} have passed "
            f"counts, and none in the last {rule.window.days} days is that old"
        )
    return None


def _filter_groups(rule: rules.Rule):
    yield "Profile properties", rule.profile
    for name in ("action", "missing"):
        action = getattr(rule, name, None)
        if action is not None:
            yield f"{action.event} properties", action.where
    for action in getattr(rule, "actions", []):
        yield f"{action.event} properties", action.where


def _contradiction(filters: list[PropertyFilter]) -> str | None:
    by_property: dict[str, list[PropertyFilter]] = {}
    for condition in filters:
        by_property.setdefault(condition.property, []).append(condition)
    for name, conditions in by_property.items():
        ops = {c.op for c in conditions}
        if "not_exists" in ops and ops - {"not_exists", "ne"}:
            return f"{name} cannot be unset and compared at once"
        equals = {(c.kind, c.typed_values()[0]) for c in conditions if c.op == "eq"}
        if len(equals) > 1:
            return f"{name} cannot equal two different values"
        low, high = _bounds(conditions)
        if low is not None and high is not None:
            (low_value, low_strict), (high_value, high_strict) = low, high
            if low_value > high_value or (low_value == high_value and (low_strict or high_strict)):
                return f"no {name} is both above {low_value} and below {high_value}"
    return None


def _bounds(conditions: list[PropertyFilter]):
    """The tightest lower and upper bound of one kind (numbers or dates), if any."""
    low = high = None
    kinds = {c.kind for c in conditions if c.op in ORDERING | {"eq"}}
    if len(kinds) != 1 or kinds & {"text", "boolean"}:
        return None, None
    for c in conditions:
        if c.op not in ORDERING | {"eq"}:
            continue
        value = c.typed_values()[0]
        if c.op in ("gt", "gte", "eq"):
            bound = (value, c.op == "gt")
            if low is None or bound[0] > low[0] or (bound[0] == low[0] and bound[1]):
                low = bound
        if c.op in ("lt", "lte", "eq"):
            bound = (value, c.op == "lt")
            if high is None or bound[0] < high[0] or (bound[0] == high[0] and bound[1]):
                high = bound
    return low, high
