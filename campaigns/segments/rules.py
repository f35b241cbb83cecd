"""What a segment rule says, as JSON: the shape the builder saves and the API takes.

A rule is one of seed 002's six categories (``category`` tells which), each with
optional filters on profile properties. Validation here is the only validation: the
builder's form errors and the API's 422s both come from these models.
"""

from datetime import date, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

from campaigns.segments.conditions import (
    MAX_NUMBER_DIGITS as MAX_NUMBER_DIGITS,  # a rule's numbers are bounded by it
)
from campaigns.segments.conditions import EventName, PropertyFilter, PropertyName, Strict
from config.dates import OUT_OF_BOUNDS, in_bounds

MAX_FILTERS = 10
MAX_ACTIONS = 5


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
