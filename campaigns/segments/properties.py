"""A property condition as one SQL predicate over a JSON column, on PostgreSQL and SQLite.

Typed comparison reads a value only when it has the type compared: a number property
that holds "abc" is simply not greater than 5, rather than an error for the whole query.
Numbers compare as numbers (numeric text counts), dates by their "YYYY-MM-DD" prefix
(ISO dates sort as text), text as text, booleans as true/false. A missing property
matches no condition except "is not set" and "does not equal" (everyone not in Canada
includes those with no country).

Any stored value is safe to compare: one row's value must never fail the query that
evaluates a whole segment (a run, a preview, a page). So every cast is guarded by a
test that cannot fail itself. On PostgreSQL numbers compare as ``numeric``, which holds
every number jsonb can (jsonb stores numbers as numeric), where ``double precision``
overflows past 1e308; numeric text is cast only up to ``rules.MAX_NUMBER_DIGITS``
characters, well inside numeric's limits, and longer text is not a number. Dates are
compared as text, never cast, so "99999-01-01" or "2020-13-45" is just not a date. On
SQLite numbers compare as REAL (a huge one is infinity, which still orders).
"""

from decimal import Decimal

from django.db.models import BooleanField, F, Func

from campaigns.segments.conditions import MAX_NUMBER_DIGITS, PropertyFilter

_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

# A "YYYY-MM-DD" prefix with a month and day that can exist (ISO dates sort as text).
_PG_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_SQLITE_DATE = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]*"


class PropertyMatches(Func):
    """True where the JSON column's property satisfies the filter."""

    output_field = BooleanField()

    def __init__(self, column: str, condition: PropertyFilter):
        super().__init__(F(column))
        self.condition = condition

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.source_expressions[0])
        key = self.condition.property
        text = f"({column} ->> %s)"
        value = {
            "text": (text, [key]),
            "number": (
                f"(CASE WHEN jsonb_typeof({column} -> %s) = 'number' "
                f"THEN ({column} -> %s)::numeric "
                f"WHEN jsonb_typeof({column} -> %s) = 'string' "
                f"AND length({text}) <= {MAX_NUMBER_DIGITS} "
                f"AND {text} ~ '^-?[0-9]+(\\.[0-9]+)?$' "
                f"THEN {text}::numeric END)",
                [key, key, key, key, key, key],
            ),
            "date": (
                f"(CASE WHEN jsonb_typeof({column} -> %s) = 'string' "
                f"AND {text} ~ '{_PG_DATE}' THEN left({text}, 10) END)",
                [key, key, key],
            ),
            "boolean": (
                f"(CASE WHEN jsonb_typeof({column} -> %s) = 'boolean' "
                f"THEN ({column} ->> %s)::boolean END)",
                [key, key],
            ),
        }
        is_set = (f"COALESCE(jsonb_typeof({column} -> %s), 'null') <> 'null'", [key])
        sql, sql_params = self._predicate(value, is_set, false="FALSE", number=Decimal)
        return sql, [*params, *sql_params]

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.source_expressions[0])
        path = f'$."{self.condition.property}"'
        kind = f"json_type({column}, %s)"
        raw = f"json_extract({column}, %s)"
        rest = f"substr({raw}, 2)"  # after a minus sign
        value = {
            "text": (
                f"(CASE WHEN {kind} IN ('text', 'integer', 'real') "
                f"THEN CAST({raw} AS TEXT) WHEN {kind} IN ('true', 'false') THEN {kind} END)",
                [path, path, path, path],
            ),
            "number": (
                f"(CASE WHEN {kind} IN ('integer', 'real') THEN {raw} "
                f"WHEN {kind} = 'text' AND length({raw}) <= {MAX_NUMBER_DIGITS} "
                f"AND ({_sqlite_digits(raw)} OR ({raw} GLOB '-*' AND {_sqlite_digits(rest)})) "
                f"THEN CAST({raw} AS REAL) END)",
                [path, path, path, path, *[path] * 4, path, *[path] * 4, path],
            ),
            "date": (
                f"(CASE WHEN {kind} = 'text' AND {raw} GLOB '{_SQLITE_DATE}' "
                f"AND substr({raw}, 6, 2) BETWEEN '01' AND '12' "
                f"AND substr({raw}, 9, 2) BETWEEN '01' AND '31' "
                f"THEN substr({raw}, 1, 10) END)",
                [path, path, path, path, path],
            ),
            "boolean": (
                f"(CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)",
                [path],
            ),
        }
        is_set = (f"COALESCE({kind}, 'null') <> 'null'", [path])
        # (A column SQLite cannot parse, which would fail the query, cannot be stored:
        # Django's JSONField has a CHECK (JSON_VALID) constraint.)
        sql, sql_params = self._predicate(value, is_set, false="0", number=float)
        return sql, [*params, *sql_params]

    def _predicate(self, value: dict, is_set: tuple, false: str, number) -> tuple[str, list]:
        """The predicate and its parameters (after the column's); ``number`` turns a
        rule's number (a Decimal) into the parameter this database compares with."""
        condition = self.condition
        op = condition.op
        if op == "exists":
            return is_set[0], list(is_set[1])
        if op == "not_exists":
            return f"NOT ({is_set[0]})", list(is_set[1])
        kind = condition.kind
        sql, value_params = value[kind]
        values = condition.typed_values()
        if kind == "number":
            values = [number(v) for v in values]
        if op == "contains":
            pattern = "%" + _escape_like(values[0].lower()) + "%"
            return f"LOWER({sql}) LIKE %s ESCAPE '\\'", [*value_params, pattern]
        if op == "in":
            marks = ", ".join(["%s"] * len(values))
            return f"{sql} IN ({marks})", [*value_params, *values]
        if op == "ne":
            # Missing or of another type counts as "not equal".
            return f"NOT COALESCE({sql} = %s, {false})", [*value_params, values[0]]
        return f"{sql} {_COMPARE[op]} %s", [*value_params, values[0]]


def _sqlite_digits(text: str) -> str:
    """SQL true where ``text`` is digits with at most one inner point (no sign): the
    numeric text PostgreSQL's pattern accepts. Four uses of ``text``."""
    return (
        f"({text} GLOB '[0-9]*' AND {text} NOT GLOB '*[^0-9.]*' "
        f"AND {text} NOT GLOB '*.*.*' AND {text} NOT GLOB '*.')"
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
