"""Custom bodies written in Liquid (python-liquid 2): check, render, preview.

Campaign authors write these templates and the sender renders them for every batch, so
the environment is locked down:

- No autoescaping: bodies are JSON or plain text, never HTML.
- No ``include`` / ``render``: a body is one template with no partials to load.
- Limits: output size, loop iterations and assigned-variable size are capped, so one
  template cannot stall a worker or eat its memory.
- Unknown top-level names are errors. A typo such as ``{{ profil.Email }}`` is reported
  by ``check`` with its line and fails ``render``, instead of silently sending "".
- Missing keys below a known name render empty: ``{{ profile.ProfileData.city }}`` is ""
  for a profile without a city (and ``| json`` turns it into null), since profiles
  legitimately differ in what they hold.

Every failure surfaces as ``TemplateError`` with the line when Liquid knows it, so the
sender can fail one delivery with reason template_error and go on with the run.
"""

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment, Mode, Token, TokenStream, Undefined
from liquid.exceptions import (
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
)
from liquid.filter import int_arg, liquid_filter

from campaigns.content.payload import PROFILE_FIELDS, Recipient, profile_entry

MAX_SOURCE_CHARS = 100_000
MAX_OUTPUT_BYTES = 1024 * 1024
# Python-liquid counts the product of nested loop lengths, so this bounds a loop over a
# batch's profiles times a loop over each profile's properties.
MAX_LOOP_ITERATIONS = 100_000
# Stops `{% assign s = s | append: s %}` in a loop from doubling a string until memory runs out.
MAX_LOCALS_BYTES = 1024 * 1024

# The names context_for provides.
CONTEXT_NAMES = ("profile", "profiles", "key_values", "targetId", "linked")

# What the editor's "@" offers before it knows the campaign's properties and sources.
VARIABLES = [f"profile.{name}" for name in PROFILE_FIELDS] + [
    "profiles",
    "key_values",
    "targetId",
    "linked",
]

_LIMIT_MESSAGES = {
    OutputStreamLimitError: f"The body is larger than {MAX_OUTPUT_BYTES // 1024} KiB.",
    LoopIterationLimitError: f"Loops run more than {MAX_LOOP_ITERATIONS:,} times.",
    LocalNamespaceLimitError: f"Assigned variables hold more than {MAX_LOCALS_BYTES // 1024} KiB.",
}
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Problem:
    """Something the editor shows next to a line (1-based; None when unknown)."""

    line: int | None
    message: str
    column: int | None = None


class TemplateError(Exception):
    """A template that cannot be rendered, with where when Liquid says."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def check(source: str) -> list[Problem]:
    """The problems to show in the editor: a syntax error, or else every use of an
    unknown variable or filter, in line order. Empty when the template is fine."""
    compiled = _compile(source)
    if compiled.problem:
        return [compiled.problem]
    problems = [
        Problem(line, f"Unknown variable '{name}'. Use one of: {', '.join(CONTEXT_NAMES)}.", col)
        for name, line, col in compiled.names
        if name not in CONTEXT_NAMES
    ]
    problems += [
        Problem(line, f"Unknown filter '{name}'.", col)
        for name, line, col in compiled.filters
        if name not in ENV.filters
    ]
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` with ``context`` (usually from ``context_for``).

    Raises TemplateError for anything that goes wrong, whatever its cause.
    """
    compiled = _compile(source)
    if compiled.problem:
        problem = compiled.problem
        raise TemplateError(problem.message, problem.line, problem.column)
    for name, line, col in compiled.names:
        if name not in context:
            raise TemplateError(f"Unknown variable '{name}'.", line, col)
    try:
        return compiled.template.render(context)
    except LiquidError as err:
        raise _template_error(err) from err
    except Exception as err:
        # User-written templates can trip errors inside filters (a TypeError, a
        # RecursionError): one profile's failed delivery is data, not a crashed run.
        raise TemplateError(f"{type(err).__name__}: {err}") from err


def render_json(source: str, context: Mapping[str, Any]) -> tuple[str, Any, Problem | None]:
    """Render a JSON body and parse it: (text, parsed value, None), or (text, None,
    problem) saying where in the rendered text it stops being JSON.

    Raises TemplateError when rendering itself fails, as ``render`` does.
    """
    text = render(source, context)
    try:
        return text, json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as err:
        message = (
            f"The rendered body is not valid JSON: {err.msg} "
            f"(line {err.lineno}, column {err.colno} of the rendered body)."
        )
        return text, None, Problem(err.lineno, message, err.colno)
    except ValueError as err:
        return text, None, Problem(None, f"The rendered body is not valid JSON: {err}.")


def context_for(
    campaign_id: int,
    key_values: Mapping[str, Any],
    recipients: Iterable[Recipient],
    linked: Mapping[str, Any],
) -> dict[str, Any]:
    """The variables a template sees: each profile with every field and property,
    ``profile`` (the first, handy with batch size 1), key_values, targetId and the
    linked content already fetched for this send (``linked.<name>``)."""
    profiles = [profile_entry(recipient, PROFILE_FIELDS) for recipient in recipients]
    return {
        "profile": profiles[0] if profiles else {},
        "profiles": profiles,
        "key_values": dict(key_values),
        "targetId": campaign_id,
        "linked": dict(linked),
    }


def variables_for(
    properties: Iterable[str] = (), key_names: Iterable[str] = (), linked: Iterable[str] = ()
) -> list[str]:
    """VARIABLES plus the campaign's own paths, written so they can be pasted into a
    template as they are: ``profile.ProfileData.city``, ``profile.ProfileData["Last Score"]``."""
    return (
        VARIABLES
        + [_path("profile.ProfileData", name) for name in properties]
        + [_path("key_values", name) for name in key_names]
        + [_path("linked", name) for name in linked]
    )


@liquid_filter
def _json(value: object, indent: object = None) -> str:
    """``{{ x | json }}`` (or ``| json: 2`` to indent): a JSON literal, so strings arrive
    quoted and escaped."""
    spaces = int_arg(indent) if indent else None
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_jsonable, indent=spaces)


def _jsonable(value: object) -> object:
    # A missing property is null; anything else JSON lacks (dates, decimals) is its text.
    return None if isinstance(value, Undefined) else str(value)


def _reject_constant(name: str) -> None:
    # json.loads accepts NaN and Infinity, which strict receivers reject.
    raise ValueError(f"{name} is not allowed")


def _path(base: str, name: str) -> str:
    if _PLAIN_NAME.match(name):
        return f"{base}.{name}"
    quote = "'" if '"' in name else '"'
    return f"{base}[{quote}{name}{quote}]"


def _locate_errors(tag: Any) -> None:
    """Give syntax errors found at the end of a tag (``{{ x | }}``, an unclosed
    ``{% if %}``) the position of the tag itself; python-liquid leaves them without one."""
    parse_node = tag.get_node

    def get_node(stream: TokenStream) -> Any:
        start: Token = stream.current
        try:
            return parse_node(stream)
        except LiquidError as err:
            if err.token is None or err.token.start_index < 0:
                err.token = start
            raise

    tag.get_node = get_node


class _Environment(Environment):
    # Python-liquid 2 takes its limits as class attributes.
    output_stream_limit = MAX_OUTPUT_BYTES
    loop_iteration_limit = MAX_LOOP_ITERATIONS
    local_namespace_limit = MAX_LOCALS_BYTES

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        # No partials to load: refuse these when checking, not at send time.
        del self.tags["include"], self.tags["render"]
        self.add_filter("json", _json)
        for tag in self.tags.values():
            _locate_errors(tag)


ENV = _Environment(
    autoescape=False, undefined=Undefined, strict_filters=True, tolerance=Mode.STRICT
)


@dataclass(frozen=True)
class _Compiled:
    template: BoundTemplate | None
    problem: Problem | None = None
    names: tuple[tuple[str, int, int], ...] = ()  # top-level variables: (name, line, column)
    filters: tuple[tuple[str, int, int], ...] = ()


# A campaign renders the same source for every batch: parse and analyse it once.
@lru_cache(maxsize=64)
def _compile(source: str) -> _Compiled:
    if len(source) > MAX_SOURCE_CHARS:
        return _Compiled(None, Problem(1, f"The template is over {MAX_SOURCE_CHARS:,} characters."))
    try:
        template = ENV.from_string(source)
    except LiquidError as err:
        error = _template_error(err)
        return _Compiled(None, Problem(error.line, error.message, error.column))
    analysis = template.analyze(include_partials=False)
    names = [
        (name, *_line_col(ref.span.index, source))
        for name, refs in analysis.globals.items()
        for ref in refs
    ]
    filters = [
        (name, *_line_col(span.index, source))
        for name, spans in analysis.filters.items()
        for span in spans
    ]
    return _Compiled(template, None, tuple(names), tuple(filters))


def _template_error(err: LiquidError) -> TemplateError:
    message = _LIMIT_MESSAGES.get(type(err)) or str(err.message)
    token = err.token
    if token is None or token.start_index < 0 or not token.source:
        return TemplateError(message)
    return TemplateError(message, *_line_col(token.start_index, token.source))


def _line_col(index: int, source: str) -> tuple[int, int]:
    """1-based line and column of ``index`` in ``source`` (clamped to its end)."""
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1
