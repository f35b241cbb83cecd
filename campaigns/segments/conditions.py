"""One condition on a property, as a segment rule's JSON says it: ``country equals
Canada``, ``amount gt 100``; the operators, the value types and how values compare.

``rules`` builds every rule category on these (``PropertyFilter``, the property and
event names, ``Strict``); ``properties`` turns a condition into SQL.
"""

import math
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from config.api import check_storable

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
