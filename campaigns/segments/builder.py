"""The rule builder's form: what the page's inputs hold, and the rule they make.

The page posts flat inputs (``action0_event``, ``profile_f1_op``...). ``Builder`` reads
them into sections, turns them into the rule's JSON, and validates it with
``rules.parse``, so the page and the API refuse exactly the same rules. Each error is
put back on the section or condition row it is about.
"""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import QueryDict
from pydantic import ValidationError

from campaigns.models import Segment
from campaigns.segments import rules

MAX_ROWS = rules.MAX_FILTERS
NAME_MAX_LENGTH = Segment._meta.get_field("name").max_length


@dataclass
class Row:
    """One property condition as typed: all text."""

    property: str = ""
    op: str = "eq"
    value: str = ""
    type: str = "auto"
    errors: list[str] = field(default_factory=list)

    # (No @property here: the field "property" shadows the builtin in this class body.)
    def blank(self) -> bool:
        return not self.property.strip()

    def to_json(self) -> dict:
        value: Any = self.value.strip()
        if self.op == "in":
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif self.op in ("exists", "not_exists"):
            value = None
        return {"property": self.property.strip(), "op": self.op, "value": value, "type": self.type}

    @classmethod
    def from_json(cls, data: dict) -> "Row":
        value = data.get("value")
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = str(value).lower()
        return cls(
            property=data.get("property", ""),
            op=data.get("op", "eq"),
            value="" if value is None else str(value),
            type=data.get("type", "auto"),
        )


@dataclass
class ActionInput:
    event: str = ""
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "event": self.event.strip(),
            "where": [row.to_json() for row in self.rows if not row.blank()],
        }

    @classmethod
    def from_json(cls, data: dict | None) -> "ActionInput":
        data = data or {}
        return cls(
            event=data.get("event", ""), rows=[Row.from_json(w) for w in data.get("where", [])]
        )


@dataclass
class Builder:
    name: str = ""
    description: str = ""
    category: str = "single_action"
    timezone: str = ""
    window_kind: str = "last_days"
    window_days: str = "30"
    window_start: str = ""
    window_end: str = ""
    actions: list[ActionInput] = field(default_factory=lambda: [ActionInput()])
    missing: ActionInput = field(default_factory=ActionInput)
    within_value: str = "1"
    within_unit: str = "days"
    performed: str = "yes"
    date_source: str = "profile"
    date_event: str = ""
    date_property: str = ""
    date_when: str = "days_ago"
    date_days: str = "3"
    profile: list[Row] = field(default_factory=list)
    # Errors of whole sections: "name", "window", "within", "date", "timezone", "rule".
    errors: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self):
        self.timezone = self.timezone or settings.TIME_ZONE

    # Reading the page ------------------------------------------------------------------

    @classmethod
    def from_post(cls, data: QueryDict) -> "Builder":
        get = lambda key, default="": data.get(key, default)[:500]  # noqa: E731
        builder = cls(
            **{
                name: get(name, default)
                for name, default in {
                    "name": "",
                    "description": "",
                    "category": "single_action",
                    "timezone": "",
                    "window_kind": "last_days",
                    "window_days": "30",
                    "window_start": "",
                    "window_end": "",
                    "within_value": "1",
                    "within_unit": "days",
                    "performed": "yes",
                    "date_source": "profile",
                    "date_event": "",
                    "date_property": "",
                    "date_when": "days_ago",
                    "date_days": "3",
                }.items()
            }
        )
        count = _count(get("action_count"), 1, rules.MAX_ACTIONS)
        builder.actions = [_action(data, f"action{i}") for i in range(count)]
        if data.get("date_source_was", builder.date_source) != builder.date_source:
            builder.date_property = ""  # A profile's property is not an event's.
        if builder.category == "actions":  # It needs two at least: show both.
            builder.actions += [ActionInput() for _ in range(2 - len(builder.actions))]
        builder.missing = _action(data, "missing")
        builder.profile = _rows(data, "profile")
        return builder

    @classmethod
    def from_segment(cls, segment) -> "Builder":
        rule = segment.rule or {}
        window = rule.get("window") or {"kind": "ever"}
        date = rule.get("date") or {}
        within = rule.get("within") or {}
        category = rule.get("category", "single_action")
        actions = rule.get("actions") or [rule.get("action") or {}]
        return cls(
            name=segment.name,
            description=segment.description,
            category=category,
            timezone=rule.get("timezone", ""),
            window_kind=window.get("kind", "ever"),
            window_days=str(window.get("days") or ""),
            window_start=str(window.get("start") or ""),
            window_end=str(window.get("end") or ""),
            actions=[ActionInput.from_json(a) for a in actions],
            missing=ActionInput.from_json(rule.get("missing")),
            within_value=str(within.get("value", "")),
            within_unit=within.get("unit", "days"),
            performed="yes" if rule.get("performed", True) else "no",
            date_source=date.get("source", "profile"),
            date_event=date.get("event") or "",
            date_property=date.get("property") or "",
            date_when=date.get("when", "days_ago"),
            date_days=str(date.get("days") if date.get("days") is not None else ""),
            profile=[Row.from_json(f) for f in rule.get("profile", [])],
        )

    @property
    def numbered_actions(self) -> list[tuple[int, str, str, "ActionInput"]]:
        """(index, input prefix, label, action) for the page."""
        return [(i, f"action{i}", f"Event {i + 1}", a) for i, a in enumerate(self.actions)]

    # Editing (the add and remove buttons) -----------------------------------------------

    def apply(self, edit: str) -> None:
        """``add-action``, ``remove-action:2``, ``add-row:profile``, ``remove-row:action0:1``."""
        verb, _, where = edit.partition(":")
        if verb == "add-action" and len(self.actions) < rules.MAX_ACTIONS:
            self.actions.append(ActionInput())
        elif verb == "remove-action" and len(self.actions) > 1:
            index = _int(where)
            if index is not None and index < len(self.actions):
                del self.actions[index]
        elif verb in ("add-row", "remove-row"):
            group, _, index = where.partition(":")
            rows = self._rows(group)
            if rows is None:
                return
            if verb == "add-row" and len(rows) < MAX_ROWS:
                rows.append(Row())
            elif verb == "remove-row" and _int(index) is not None and _int(index) < len(rows):
                del rows[_int(index)]

    def _rows(self, group: str) -> list[Row] | None:
        if group == "profile":
            return self.profile
        if group == "missing":
            return self.missing.rows
        if group.startswith("action") and _int(group[6:]) is not None:
            index = _int(group[6:])
            return self.actions[index].rows if index < len(self.actions) else None
        return None

    # The rule --------------------------------------------------------------------------

    def to_json(self) -> dict:
        rule: dict[str, Any] = {"category": self.category, "timezone": self.timezone}
        window = {"kind": self.window_kind}
        if self.window_kind == "last_days":
            window["days"] = _int(self.window_days) if self.window_days else None
        elif self.window_kind == "between":
            window["start"] = self.window_start or None
            window["end"] = self.window_end or None
        first = self.actions[0]
        if self.category == "single_action":
            rule |= {"action": first.to_json(), "window": window}
        elif self.category == "actions":
            rule |= {"actions": [a.to_json() for a in self.actions], "window": window}
        elif self.category in ("inaction_within_time", "inaction"):
            rule |= {"action": first.to_json(), "missing": self.missing.to_json(), "window": window}
            if self.category == "inaction_within_time":
                rule["within"] = {"value": _int(self.within_value), "unit": self.within_unit}
        elif self.category == "date_property":
            date = {"source": self.date_source, "when": self.date_when}
            if self.date_source == "event":
                date["event"] = self.date_event.strip()
            if self.date_property.strip():
                date["property"] = self.date_property.strip()
            if self.date_when in ("days_ago", "at_least_days_ago"):
                date["days"] = _int(self.date_days)
            rule["date"] = date
        elif self.category == "user_properties" and first.event.strip():
            rule |= {
                "action": first.to_json(),
                "performed": self.performed != "no",
                "window": window,
            }
        rule["profile"] = [row.to_json() for row in self.profile if not row.blank()]
        return rule

    def validate(self) -> rules.Rule | None:
        """The rule, or None with the errors put on the sections and rows."""
        name = self.name.strip()
        if not name:
            self.errors.setdefault("name", []).append("Give the segment a name.")
        elif len(name) > NAME_MAX_LENGTH:
            self.errors.setdefault("name", []).append(
                f"Keep the name to {NAME_MAX_LENGTH} characters (it has {len(name)})."
            )
        elif "\x00" in name:
            self.errors.setdefault("name", []).append(
                "The name cannot contain the NUL character (\\u0000)."
            )
        try:
            rule = rules.parse(self.to_json())
        except ValidationError as exc:
            for error in exc.errors():
                self._place(error)
            return None
        return None if self.errors else rule

    def validate_rule(self) -> rules.Rule | None:
        """As ``validate`` but without the name: for the preview."""
        name, self.name = self.name, self.name or "preview"
        try:
            return self.validate()
        finally:
            self.name = name

    def all_errors(self) -> list[str]:
        """Every error, each said with where it is (for the preview panel)."""
        labels = {
            "name": "Name",
            "window": "When",
            "within": "Within",
            "date": "Date",
            "timezone": "Time zone",
            "rule": "Rule",
        }
        found = [f"{labels[key]}: {m}" for key, messages in self.errors.items() for m in messages]
        for number, action in enumerate(self.actions, start=1):
            label = f"Action {number}" if len(self.actions) > 1 else "Action"
            found += [f"{label}: {m}" for m in action.errors]
            found += [
                f"{label}, condition {i}: {m}"
                for i, row in enumerate(action.rows, 1)
                for m in row.errors
            ]
        found += [f"Did not do: {m}" for m in self.missing.errors]
        found += [
            f"Did not do, condition {i}: {m}"
            for i, row in enumerate(self.missing.rows, 1)
            for m in row.errors
        ]
        found += [
            f"Profile condition {i}: {m}"
            for i, row in enumerate(self.profile, 1)
            for m in row.errors
        ]
        return found

    def _place(self, error: dict) -> None:
        loc = list(error["loc"][1:]) if error["loc"] else []  # [0] is the category tag.
        message = _message(error)
        if not loc:
            self.errors.setdefault("rule", []).append(message)
            return
        head, rest = loc[0], loc[1:]
        if head in ("action", "missing", "actions"):
            if head == "actions":
                if not rest:
                    self.errors.setdefault("rule", []).append(message)
                    return
                index, rest = rest[0], rest[1:]
                target = self.actions[index] if index < len(self.actions) else None
            else:
                target = self.actions[0] if head == "action" else self.missing
            if target is None:
                self.errors.setdefault("rule", []).append(message)
            elif rest[:1] == ["where"] and len(rest) > 1:
                rows = [row for row in target.rows if not row.blank()]
                rows[rest[1]].errors.append(message)
            else:
                target.errors.append(message)
        elif head == "profile" and rest:
            [row for row in self.profile if not row.blank()][rest[0]].errors.append(message)
        elif head in ("window", "within", "date", "timezone"):
            self.errors.setdefault(head, []).append(message)
        else:
            self.errors.setdefault("rule", []).append(message)


def _message(error: dict) -> str:
    message = error["msg"].removeprefix("Value error, ")
    field_name = error["loc"][-1] if error["loc"] else ""
    if error["type"] == "int_type":
        return "Enter a whole number."
    if error["type"] == "missing":
        return f"Enter the {str(field_name).replace('_', ' ')}."
    if (
        isinstance(field_name, str)
        and field_name in ("event", "property")
        and "at least 1" in message
    ):
        return f"Enter the {field_name}."
    return message[:1].upper() + message[1:]


def _action(data: QueryDict, prefix: str) -> ActionInput:
    return ActionInput(event=data.get(f"{prefix}_event", "")[:500], rows=_rows(data, prefix))


def _rows(data: QueryDict, prefix: str) -> list[Row]:
    count = _count(data.get(f"{prefix}_rows"), 0, MAX_ROWS)
    return [
        Row(
            property=data.get(f"{prefix}_f{i}_property", "")[:500],
            op=data.get(f"{prefix}_f{i}_op", "eq"),
            value=data.get(f"{prefix}_f{i}_value", "")[:2000],
            type=data.get(f"{prefix}_f{i}_type", "auto"),
        )
        for i in range(count)
    ]


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _count(text: str | None, low: int, high: int) -> int:
    value = _int(text)
    return low if value is None else max(low, min(high, value))
