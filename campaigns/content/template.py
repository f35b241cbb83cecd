"""Custom bodies written in Liquid (python-liquid 2): check, render, preview.

Campaign authors write these templates and the sender renders them for every batch, so
the environment is locked down:

- No autoescaping: bodies are JSON or plain text, never HTML.
- No ``include`` / ``render``: a body is one template with no partials to load.
- A budget (``budget``): loop iterations over the whole render, time, output size,
  assigned-variable size, and the size of what ranges and filters make, all checked
  while the template runs, so one template cannot stall a worker or eat its memory.
  ``check`` also renders the template once with a sample member, so a template that
  blows its budget whatever the data is refused in the editor, with its line.
- Unknown top-level names are errors. A typo such as ``{{ profil.Email }}`` is reported
  by ``check`` with its line and fails ``render``, instead of silently sending "".
- Missing keys below a known name render empty: ``{{ profile.ProfileData.city }}`` is ""
  for a profile without a city (and ``| json`` turns it into null), since profiles
  legitimately differ in what they hold.

Every failure surfaces as ``TemplateError`` with the line when Liquid knows it, so the
sender can fail one delivery with reason template_error and go on with the run.

A template is parsed once per source (``_compile``, cached) and, when ``compiled`` can,
also turned into a Python function: a fan-out renders its batches with that, several
times faster than python-liquid walks its tree, and with python-liquid itself whenever
the function cannot finish exactly as python-liquid would (``compiled``'s docstring).
Both share one deadline.
"""

import json
import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment, Mode, Token, TokenStream, Undefined
from liquid.exceptions import (
    BlockNestingError,
    LiquidError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
)
from liquid.output import LimitedStringIO
from liquid.token import TOKEN_OUTPUT

from campaigns.content import budget, filters
from campaigns.content import compiled as compiled_liquid
from campaigns.content.budget import (
    MAX_LOCALS_BYTES,
    MAX_LOOP_ITERATIONS,
    MAX_OUTPUT_BYTES,
    BudgetError,
)
from campaigns.content.payload import PROFILE_FIELDS, Recipient

MAX_SOURCE_CHARS = 100_000

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
    LoopIterationLimitError: f"Loops run more than {MAX_LOOP_ITERATIONS:,} times in all.",
    LocalNamespaceLimitError: f"Assigned variables hold more than {MAX_LOCALS_BYTES // 1024} KiB.",
    BlockNestingError: f"Tags are nested more than {Environment.block_nesting_limit} deep.",
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

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        *,
        over_budget: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.over_budget = over_budget  # a budget limit, not a mistake in the template

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
    if not problems:
        over_budget = _trial(source)
        if over_budget:
            problems.append(over_budget)
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
    deadline = time.monotonic() + budget.MAX_RENDER_SECONDS  # for both ways of rendering
    try:
        if compiled.fast is not None:
            with suppress(compiled_liquid.Bail):
                return compiled.fast(context, deadline)
        return _interpret(compiled.template, context, deadline)
    except RecursionError as err:  # python-liquid stringifies data nested thousands deep
        raise TemplateError("A value is nested too deep to render.", over_budget=True) from err
    except LiquidError as err:
        raise _template_error(err) from err
    except Exception as err:
        # User-written templates can trip errors inside filters (a TypeError, a
        # RecursionError): one profile's failed delivery is data, not a crashed run.
        raise TemplateError(f"{type(err).__name__}: {err}") from err


def _interpret(template: BoundTemplate, context: Mapping[str, Any], deadline: float) -> str:
    # BoundTemplate.render, with the deadline set: what the compiled render left of it.
    render_context = template.context_class(template, globals=template.make_globals(context))
    render_context.deadline = deadline
    buffer = LimitedStringIO(limit=MAX_OUTPUT_BYTES)
    template.render_with_context(render_context, buffer)
    return buffer.getvalue()


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
    profiles = [_entry(recipient) for recipient in recipients]
    return {
        "profile": profiles[0] if profiles else {},
        "profiles": profiles,
        "key_values": dict(key_values),
        "targetId": campaign_id,
        "linked": dict(linked),
    }


def _entry(recipient: Recipient) -> dict[str, Any]:
    # profile_entry(recipient, PROFILE_FIELDS), without sorting out a choice of fields:
    # a hundred of them per batch.
    return {
        "Email": recipient.email,
        "Identity": recipient.identity,
        "ObjectId": recipient.object_id,
        "ProfileData": dict(recipient.properties),
        "Event_properties": dict(recipient.event_properties or {}),
        "Push_token": recipient.push_token,
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
    # Python-liquid 2 takes its limits as class attributes. Its loop limit applies to one
    # nest of loops at a time (the product of their lengths, refused before they start);
    # budget.BudgetedContext adds the count over the whole render.
    output_stream_limit = MAX_OUTPUT_BYTES
    loop_iteration_limit = MAX_LOOP_ITERATIONS
    local_namespace_limit = MAX_LOCALS_BYTES
    template_class = budget.BudgetedTemplate

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        # No partials to load: refuse these when checking, not at send time.
        del self.tags["include"], self.tags["render"]
        self.tags[TOKEN_OUTPUT].node_class = budget.BoundedOutputNode
        self.tags["echo"].node_class = budget.BoundedEchoNode
        self.tags["cycle"].node_class = budget.BoundedCycleNode
        self.filters["json"] = filters.json_filter
        self.filters["join"] = filters.join_filter
        self.filters["uniq"] = filters.uniq_filter
        for name, func in list(self.filters.items()):
            self.filters[name] = filters.bounded_filter(name, func)
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
    # The template as a Python function (``compiled``), or None: always interpreted.
    fast: compiled_liquid.Render | None = None


def _compile(source: str) -> _Compiled:
    # A campaign renders the same source for every batch: parse and analyse it once. A
    # parsed template takes about a hundred times its source in memory (10 MB at the
    # limit), so the few large ones get a cache of their own instead of filling a big one.
    if len(source) <= _SMALL_SOURCE_CHARS:
        return _compile_small(source)
    return _compile_large(source)


_SMALL_SOURCE_CHARS = 10_000


@lru_cache(maxsize=32)
def _compile_small(source: str) -> _Compiled:
    return _parse(source)


@lru_cache(maxsize=4)
def _compile_large(source: str) -> _Compiled:
    return _parse(source)


def _parse(source: str) -> _Compiled:
    if len(source) > MAX_SOURCE_CHARS:
        return _Compiled(None, Problem(1, f"The template is over {MAX_SOURCE_CHARS:,} characters."))
    try:
        template = ENV.from_string(source)
    except LiquidError as err:
        error = _template_error(err)
        return _Compiled(None, Problem(error.line, error.message, error.column))
    except RecursionError:
        return _Compiled(None, Problem(1, "The template is nested too deep."))
    budget.bound_ranges(template)
    analysis = template.analyze(include_partials=False)
    # Thousands of references at the size limit: find their lines by bisection, not by
    # counting newlines from the start for each.
    starts = [0] + [found.end() for found in re.finditer("\n", source)]
    names = [
        (name, *_line_col_in(ref.span.index, starts))
        for name, refs in analysis.globals.items()
        for ref in refs
    ]
    filters = [
        (name, *_line_col_in(span.index, starts))
        for name, spans in analysis.filters.items()
        for span in spans
    ]
    # Compiled only at the sizes templates are written by hand: the generated Python of
    # one at the size limit would take longer to compile than its batches to interpret.
    small = len(source) <= _SMALL_SOURCE_CHARS
    fast = compiled_liquid.compile_template(template) if small else None
    return _Compiled(template, None, tuple(names), tuple(filters), fast)


# A sample member for check's trial render: what every batch has at least.
_SAMPLE = Recipient(identity="sample", email="sample@example.com", object_id="sample")


@lru_cache(maxsize=64)
def _trial(source: str) -> Problem | None:
    """The budget problem of rendering ``source`` for one sample member, if any.

    Loops over ranges, doubling strings, huge joins: most ways to blow the budget do not
    depend on the data, so they are refused in the editor, at publish, and (check runs
    before every batch, cached) at once for each batch of a run. Other render errors
    depend on the data and are left to the preview and the send.
    """
    try:
        render(source, context_for(0, {}, [_SAMPLE], {}))
    except TemplateError as error:
        if error.over_budget:
            return Problem(error.line, error.message, error.column)
    return None


def _template_error(err: LiquidError) -> TemplateError:
    over_budget = isinstance(err, ResourceLimitError)
    if isinstance(err, BudgetError):
        message = str(err.message)
    else:
        message = _LIMIT_MESSAGES.get(type(err)) or str(err.message)
    token = err.token
    if token is None or token.start_index < 0 or not token.source:
        return TemplateError(message, over_budget=over_budget)
    line, column = _line_col(token.start_index, token.source)
    return TemplateError(message, line, column, over_budget=over_budget)


def _line_col(index: int, source: str) -> tuple[int, int]:
    """1-based line and column of ``index`` in ``source`` (clamped to its end)."""
    index = max(0, min(index, len(source)))
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1


def _line_col_in(index: int, line_starts: list[int]) -> tuple[int, int]:
    """``_line_col`` given where each line of the source starts."""
    line = bisect_right(line_starts, max(index, 0))
    return line, max(index, 0) - line_starts[line - 1] + 1
