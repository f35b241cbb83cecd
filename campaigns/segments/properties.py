"""A property condition as one SQL predicate over a JSON column, on PostgreSQL and SQLite.

Typed comparison reads a value only when it has the type compared: a number property
that holds "abc" is simply not greater than 5, rather than an error for the whole query.
Numbers compare as numbers (numeric text counts), dates by their "YYYY-MM-DD" prefix
(ISO dates sort as text), text as text, booleans as true/false. A missing property
matches no condition except "is not set" and "does not equal" (everyone not in Canada
includes those with no country).
"""

from django.db.models import BooleanField, F, Func

from campaigns.segments.rules import PropertyFilter

_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class PropertyMatches(Func):
    """True where the JSON column's property satisfies the filter."""

    output_field = BooleanField()

    def __init__(self, column: str, condition: PropertyFilter):
        super().__init__(F(column))
        self.condition = condition

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.source_expressions[0])
        key = self.condition.property
        value = {
            "text": (f"({column} ->> %s)", [key]),
            "number": (
                f"(CASE WHEN jsonb_typeof({column} -> %s) = 'number' "
                f"OR {column} ->> %s ~ '^-?[0-9]+(\\.[0-9]+)?$' "
                f"THEN ({column} ->> %s)::double precision END)",
                [key, key, key],
            ),
            "date": (
                f"(CASE WHEN {column} ->> %s ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}' "
                f"THEN left({column} ->> %s, 10) END)",
                [key, key],
            ),
            "boolean": (
                f"(CASE WHEN jsonb_typeof({column} -> %s) = 'boolean' "
                f"THEN ({column} ->> %s)::boolean END)",
                [key, key],
            ),
        }
        is_set = (f"COALESCE(jsonb_typeof({column} -> %s), 'null') <> 'null'", [key])
        return self._predicate(value, is_set, params, false="FALSE")

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.source_expressions[0])
        path = f'$."{self.condition.property}"'
        kind = f"json_type({column}, %s)"
        raw = f"json_extract({column}, %s)"
        value = {
            "text": (
                f"(CASE WHEN {kind} IN ('text', 'integer', 'real') "
                f"THEN CAST({raw} AS TEXT) WHEN {kind} IN ('true', 'false') THEN {kind} END)",
                [path, path, path, path],
            ),
            "number": (
                f"(CASE WHEN {kind} IN ('integer', 'real') THEN {raw} "
                f"WHEN {kind} = 'text' AND {raw} GLOB '[0-9]*' "
                f"AND {raw} NOT GLOB '*[^0-9.]*' THEN CAST({raw} AS REAL) "
                f"WHEN {kind} = 'text' AND {raw} GLOB '-[0-9]*' "
                f"AND substr({raw}, 2) NOT GLOB '*[^0-9.]*' THEN CAST({raw} AS REAL) END)",
                [path, path] + [path] * 4 + [path] * 4,
            ),
            "date": (
                f"(CASE WHEN {kind} = 'text' AND {raw} GLOB "
                "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' "
                f"THEN substr({raw}, 1, 10) END)",
                [path, path, path],
            ),
            "boolean": (
                f"(CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)",
                [path],
            ),
        }
        is_set = (f"COALESCE({kind}, 'null') <> 'null'", [path])
        return self._predicate(value, is_set, params, false="0")

    def _predicate(self, value: dict, is_set: tuple, params: list, false: str):
        condition = self.condition
        op = condition.op
        if op == "exists":
            return is_set[0], [*params, *is_set[1]]
        if op == "not_exists":
            return f"NOT ({is_set[0]})", [*params, *is_set[1]]
        kind = condition.kind
        sql, value_params = value[kind]
        values = condition.typed_values()
        if op == "contains":
            pattern = "%" + _escape_like(values[0].lower()) + "%"
            return f"LOWER({sql}) LIKE %s ESCAPE '\\'", [*params, *value_params, pattern]
        if op == "in":
            marks = ", ".join(["%s"] * len(values))
            return f"{sql} IN ({marks})", [*params, *value_params, *values]
        if op == "ne":
            # Missing or of another type counts as "not equal".
            return (
                f"NOT COALESCE({sql} = %s, {false})",
                [*params, *value_params, values[0]],
            )
        return f"{sql} {_COMPARE[op]} %s", [*params, *value_params, values[0]]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
