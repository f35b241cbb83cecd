"""What a segment rule says, as JSON: the shape the builder saves and the API takes.

A rule is one of seed 002's six categories (``category`` tells which), each with
optional filters on profile properties. Validation here is the only validation: the
builder's form errors and the API's 422s both come from these models.
"""

import math
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from config.api import check_storable
from config.dates import OUT_OF_BOUNDS, in_bounds

MAX_FILTERS = 10
MAX_ACTIONS = 5
# ISO dates sort as text, so a typed date comparison compares the "YYYY-MM-DD" prefix.
# ASCII digits only: the database's patterns know no others.
DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}", re.ASCII)
NUMBER = re.compile(r"-?\d+(\.\d+)?", re.ASCII)
# Numbers compare exactly (as Decimal, and as numeric on PostgreSQL) up to this many
# characters: far beyond any real amount, well inside numeric's limits, and short
# enough that a stored text of a million digits is never cast. Longer text is not a
# number (a stored one does not match; a rule's is refused).
MAX_NUMBER_DIGITS = 1000
_NUMBER_LIMIT = 10**MAX_NUMBER_DIGITS

Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists", "not_exists", "in"]
OPERATOR_LABELS = {
    "eq": "equals",
    "ne": "does not equal",
    "gt": "is greater than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "contains": "contains",
    "exists": "is set",
    "not_exists": "is not set",
    "in": "is one of",
}
ValueType = Literal["auto", "text", "number", "date", "boolean"]
ORDERING = {"gt", "gte", "lt", "lte"}
Scalar = str | bool | int | float


class Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored condition. Counts and yes/no
    # fields are strict too (`"days": false` or `"performed": "no"` are refused), so the
    # API takes exactly what its schema says.
    model_config = ConfigDict(extra="forbid")


def storable_text(value: str) -> str:
    """``value`` if PostgreSQL can store and compare it; ValueError otherwise (NUL and
    lone surrogates, which no property name, event or value legitimately holds)."""
    return check_storable(value)


# Property names are JSON keys; quotes and backslashes would need escaping in SQLite's
# JSON paths, and no real property needs them.
PropertyName = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r'^[^"\\]+$', examples=["country"]),
    AfterValidator(storable_text),
]
EventName = Annotated[
    str, Field(min_length=1, max_length=100, examples=["Charged"]), AfterValidator(storable_text)
]


class PropertyFilter(Strict):
    """One condition on a property: ``country equals Canada``, ``amount gt 100``."""

    property: PropertyName
    op: Operator
    value: Scalar | list[Scalar] | None = None
    type: ValueType = Field(
        default="auto",
        description="How values compare. auto: numbers as numbers, true/false as yes/no, "
        "and for gt/gte/lt/lte text that reads as a number or an ISO date as one.",
    )

    @model_validator(mode="after")
    def _value_fits_operator(self) -> "PropertyFilter":
        if self.op in ("exists", "not_exists"):
            if self.value not in (None, ""):
                raise ValueError(f"'{self.op}' takes no value")
            return self
        if self.op == "in":
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("'in' takes a non-empty list of values")
            if len(self.value) > 100:
                raise ValueError("'in' takes at most 100 values")
        elif self.value is None or self.value == "" or isinstance(self.value, list):
            raise ValueError(f"'{self.op}' needs a single value")
        kind = self.kind
        if self.op in ORDERING and kind not in ("number", "date", "text"):
            raise ValueError(f"'{self.op}' compares numbers, dates or text")
        if self.op == "contains" and kind != "text":
            raise ValueError("'contains' looks for text inside text")
        for value in self.values:
            if isinstance(value, str):
                storable_text(value)
            if kind == "number" and _as_number(value) is None:
                if _too_long(value):
                    raise ValueError(
                        f"{_shown(value)} is too long to compare "
                        f"(numbers have at most {MAX_NUMBER_DIGITS} digits)"
                    )
                raise ValueError(f"{_shown(value)} is not a number")
            if kind == "date" and not (isinstance(value, str) and _as_date(value)):
                raise ValueError(f"{_shown(value)} is not a date (YYYY-MM-DD)")
            if kind == "boolean" and _as_boolean(value) is None:
                raise ValueError(f"{_shown(value)} is not true or false")
        return self

    @property
    def values(self) -> list[Scalar]:
        if self.value is None:
            return []
        return self.value if isinstance(self.value, list) else [self.value]

    @property
    def kind(self) -> str:
        """How the values compare: text, number, date or boolean."""
        if self.type != "auto":
            return self.type
        values = self.values
        if not values:
            return "text"
        if all(isinstance(v, bool) for v in values):
            return "boolean"
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            return "number"
        if self.op in ORDERING and isinstance(values[0], str):
            if NUMBER.fullmatch(values[0].strip()):
                return "number"
            if _as_date(values[0]):
                return "date"
        return "text"

    def typed_values(self) -> list:
        kind = self.kind
        convert = {
            "number": _as_number,
            "date": lambda v: _as_date(v).isoformat(),
            "boolean": _as_boolean,
            "text": lambda v: str(v).lower() if isinstance(v, bool) else str(v),
        }[kind]
        return [convert(v) for v in self.values]

    def describe(self) -> str:
        if self.op in ("exists", "not_exists"):
            return f"{self.property} {OPERATOR_LABELS[self.op]}"
        shown = ", ".join(str(v) for v in self.values)
        return f"{self.property} {OPERATOR_LABELS[self.op]} {shown}"


def _as_number(value: Any) -> Decimal | None:
    """The number ``value`` says, exactly; None for anything else (NaN, infinity, and
    numbers longer than ``MAX_NUMBER_DIGITS``). A Decimal, because float() of a JSON
    integer of 400 digits raises OverflowError, and of 1e400 as text is infinity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value) if -_NUMBER_LIMIT < value < _NUMBER_LIMIT else None
    if isinstance(value, float):
        # repr's shortest form: 0.1 is Decimal("0.1"), as the stored 0.1 is.
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= MAX_NUMBER_DIGITS and NUMBER.fullmatch(text):
            return Decimal(text)
    return None


def _too_long(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -_NUMBER_LIMIT < value < _NUMBER_LIMIT
    return isinstance(value, str) and len(value.strip()) > MAX_NUMBER_DIGITS


def _shown(value: Any) -> str:
    """``value`` for an error message, cut short: a rule's value may be huge."""
    if isinstance(value, int) and not isinstance(value, bool) and _too_long(value):
        return "the number"  # str() of an int past 4,300 digits raises ValueError
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_date(value: str) -> date | None:
    if not DATE_PREFIX.match(value):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _as_boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "yes": True, "false": False, "no": False}.get(str(value).lower())


class Action(Strict):
    """An event a profile did, optionally with conditions on the event's properties."""

    event: EventName
    where: list[PropertyFilter] = Field(default=[], max_length=MAX_FILTERS)

    def describe(self) -> str:
        if not self.where:
            return self.event
        return f"{self.event} where " + " and ".join(f.describe() for f in self.where)


class Window(Strict):
    """When the action happened: ever, in the last N days (to the second), or between
    two dates (both included, as calendar days in the rule's time zone)."""

    kind: Literal["ever", "last_days", "between"] = "ever"
    days: int | None = Field(default=None, ge=1, le=3650, strict=True)
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _complete(self) -> "Window":
        if self.kind == "last_days" and self.days is None:
            raise ValueError("'last_days' needs days")
        # A saved rule is parsed again wherever it is used, so one stored before this
        # check is refused there too ("no longer valid") instead of overflowing.
        if not (in_bounds(self.start) and in_bounds(self.end)):
            raise ValueError(OUT_OF_BOUNDS)
        if self.kind == "between":
            if self.start is None or self.end is None:
                raise ValueError("'between' needs a start and an end date")
            if self.start > self.end:
                raise ValueError("the start date is after the end date")
        return self

    def describe(self) -> str:
        if self.kind == "last_days":
            return f"in the last {self.days} day{'s' if self.days != 1 else ''}"
        if self.kind == "between":
            return f"between {self.start} and {self.end}"
        return "ever"


class Duration(Strict):
    value: int = Field(ge=1, le=100_000, strict=True)
    unit: Literal["minutes", "hours", "days"] = "days"

    @property
    def delta(self) -> timedelta:
        return timedelta(**{self.unit: self.value})

    def describe(self) -> str:
        unit = self.unit if self.value != 1 else self.unit[:-1]
        return f"{self.value} {unit}"


class BaseRule(Strict):
    timezone: str = Field(
        default="UTC",
        description="The time zone of calendar days (windows between dates, 'N days ago').",
        examples=["Europe/Berlin"],
    )
    profile: list[PropertyFilter] = Field(
        default=[],
        max_length=MAX_FILTERS,
        description="Conditions on profile properties, all of which must hold.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SingleAction(BaseRule):
    """1. Single action: did the event within the window."""

    category: Literal["single_action"]
    action: Action
    window: Window = Window()


class Actions(BaseRule):
    """2. Actions: did every one of the events within the window."""

    category: Literal["actions"]
    actions: list[Action] = Field(min_length=2, max_length=MAX_ACTIONS)
    window: Window = Window()


class InactionWithinTime(BaseRule):
    """3. Inaction within time: did the action (within the window), and then not the
    missing one in the time after it. Only actions whose time has fully passed count."""

    category: Literal["inaction_within_time"]
    action: Action
    missing: Action
    within: Duration
    window: Window = Window()


class Inaction(BaseRule):
    """4. Inaction: did the action (within the window) and never the missing one after."""

    category: Literal["inaction"]
    action: Action
    missing: Action
    window: Window = Window()


class DateCondition(Strict):
    source: Literal["profile", "event"]
    event: EventName | None = Field(default=None, description="With source 'event': which event.")
    property: PropertyName | None = Field(
        default=None,
        description="The date property; with source 'event' and none, the event's time.",
    )
    when: Literal["days_ago", "at_least_days_ago", "today", "anniversary"] = Field(
        description="days_ago: exactly N calendar days ago; at_least_days_ago: N or more "
        "days ago; today: today's date; anniversary: today's month and day, any year."
    )
    days: int | None = Field(default=None, ge=0, le=36500, strict=True)

    @model_validator(mode="after")
    def _complete(self) -> "DateCondition":
        if self.source == "profile" and not self.property:
            raise ValueError("a profile date needs the property that holds it")
        if self.source == "event" and not self.event:
            raise ValueError("an event date needs the event")
        if self.when in ("days_ago", "at_least_days_ago") and self.days is None:
            raise ValueError(f"'{self.when}' needs days")
        return self

    def describe(self) -> str:
        subject = (
            f"profile's {self.property}"
            if self.source == "profile"
            else f"{self.event}'s {self.property}"
            if self.property
            else f"{self.event}"
        )
        return {
            "days_ago": f"{subject} was exactly {self.days} days ago",
            "at_least_days_ago": f"{subject} was {self.days} or more days ago",
            "today": f"{subject} is today",
            "anniversary": f"{subject} has its anniversary today",
        }[self.when]


class DateProperty(BaseRule):
    """5. Date time property: a period has passed since a date of the profile or event."""

    category: Literal["date_property"]
    date: DateCondition


class UserProperties(BaseRule):
    """6. Actions with user properties: did (or did not do) an action, filtered by
    profile properties; with no action, the profile properties alone."""

    category: Literal["user_properties"]
    action: Action | None = None
    performed: bool = Field(default=True, strict=True, description="False: did not do the action.")
    window: Window = Window()

    @model_validator(mode="after")
    def _has_filters(self) -> "UserProperties":
        if not self.profile:
            raise ValueError("add at least one condition on profile properties")
        return self


CATEGORIES = {
    "single_action": ("Single action", "User performed an action.", "User launched the app."),
    "actions": (
        "Actions",
        "User performed multiple actions.",
        "User launched the app and viewed a notification.",
    ),
    "inaction_within_time": (
        "Inaction within time",
        "User performed an action, but did not perform another within a certain time.",
        "User has not launched the app in three days.",
    ),
    "inaction": (
        "Inaction",
        "User performed an action, but did not perform another action after it.",
        "User launched the app, but did not view a notification.",
    ),
    "date_property": (
        "Date time property",
        "A period of time has passed since a date of the user or of an event.",
        "User purchased an item and three days have passed.",
    ),
    "user_properties": (
        "Actions with user properties",
        "Performed an action or not, filtered by demographic properties.",
        "User purchased an item and lives in Canada.",
    ),
}

Rule = Annotated[
    SingleAction | Actions | InactionWithinTime | Inaction | DateProperty | UserProperties,
    Field(discriminator="category"),
]
RULE = TypeAdapter(Rule)


def parse(data: Any) -> Rule:
    """The rule in ``data`` (a dict as saved); raises pydantic's ValidationError."""
    return RULE.validate_python(data)
