"""The budget every Liquid render keeps: work, time, output and memory, checked while the
template runs, never after (DESIGN.md, "Budgets on untrusted work").

Campaign authors write these templates and workers render them for every batch, so a
render must end within ``MAX_RENDER_SECONDS`` and never hold more than a few megabytes,
whatever the template says. From python-liquid 2 we use its resource limits as they are:
``output_stream_limit`` (the body, and every ``capture``), ``local_namespace_limit``
(what ``assign`` and ``capture`` hold), ``loop_iteration_limit`` (nested loops refused up
front by the product of their lengths) and ``block_nesting_limit``. They leave gaps, which
this module closes through python-liquid's extension points (a ``RenderContext`` subclass
set as the template's ``context_class``, filters registered on the environment, tags'
``node_class``):

- Work: every loop iteration of the whole render is counted (python-liquid only checks
  one nest of loops at a time, so a hundred sibling loops ran 24 s).
- Time: the deadline is checked at every loop iteration, variable lookup, filter call and
  assignment: everything a template repeats passes through one of them.
- Memory, before it is spent: a range longer than ``MAX_RANGE`` is refused when it is made
  (``(1..10000000)`` is cheap; joining or searching it is not); filters refuse inputs that
  would make a result over ``MAX_STRING_CHARS`` or ``MAX_ITEMS`` (``join`` and ``json``
  build their text piece by piece and stop at the limit; ``replace``, ``split`` and
  ``concat`` compute their result's size first); numbers beyond ``MAX_INT_BITS`` are
  refused (``times`` on itself squares); and no container is turned into text (output,
  string filters, ``cycle``) without first estimating that text's size. The filters'
  checks are in ``filters.py``.

Everything over budget raises a ``BudgetError`` (a python-liquid ``LiquidError``) with a
message for the campaign's author; ``template`` turns it into a ``TemplateError`` with
its line, so the editor shows it and the sender fails the delivery with template_error.
"""

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from liquid import BoundTemplate, RenderContext, soft_str
from liquid.builtin.expressions.primitive import RangeLiteral
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.cycle_tag import CycleNode
from liquid.builtin.tags.echo_tag import EchoNode
from liquid.exceptions import (
    FilterArgumentError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    ResourceLimitError,
)
from liquid.stringify import to_liquid_string

# A batch of 1,000 profiles renders in about 0.05 s with a typical body. Half a second
# keeps a first render (parse 0.5 s at the size limit, check's trial render, then the
# render itself) within 2 s.
MAX_RENDER_SECONDS = 0.5
# Summed over the whole render. A batch of 1,000 profiles with 100 properties each can
# still be looped over in full; a loop per line of a 100,000-character template cannot.
MAX_LOOP_ITERATIONS = 100_000
MAX_RANGE = MAX_LOOP_ITERATIONS  # a longer range could not be looped over anyway
MAX_OUTPUT_BYTES = 1024 * 1024
MAX_LOCALS_BYTES = 1024 * 1024
MAX_STRING_CHARS = 1024 * 1024  # a filter's input or result; the body holds no more
MAX_ITEMS = 100_000  # a filter's input or result list, nested lists counted flattened
MAX_INT_BITS = 1024  # about 300 digits
MAX_JSON_INDENT = 8


class BudgetError(ResourceLimitError):
    """A template went over its budget; the message says which limit, for its author."""


class FilterBudgetError(BudgetError, FilterArgumentError):
    # A FilterArgumentError is given the filter's token by python-liquid, so the editor
    # points at the filter itself rather than the statement around it.
    pass


# --- The render context: work, time and assignments -------------------------------------


class BudgetedContext(RenderContext):
    """A render context that counts loop iterations across the whole render and checks
    the deadline wherever a template can repeat work."""

    __slots__ = ("deadline", "iterations", "locals_bytes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.iterations = 0
        self.locals_bytes = 0

    def tick(self, token: Any = None) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetError(
                f"The template takes more than {MAX_RENDER_SECONDS:g} s to render.", token=token
            )

    def loop(self, namespace: Mapping[str, object], forloop: Any) -> Any:
        # ``for`` and ``tablerow`` both step through ``forloop.it``; counting there sees
        # every iteration, ``break`` and ``limit:`` included, and empty loop bodies too.
        forloop.it = self._counted(forloop.it)
        return super().loop(namespace, forloop)

    def _counted(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self.iterations += 1
            if self.iterations > MAX_LOOP_ITERATIONS:
                raise LoopIterationLimitError("loop iteration limit reached", token=None)
            self.tick()
            yield item

    def get(self, path: list[object], *, token: Any, **kwargs: Any) -> object:
        self.tick(token)
        return super().get(path, token=token, **kwargs)

    def filter(self, name: str, token: Any) -> Callable[..., object]:
        self.tick(token)
        return super().filter(name, token)

    def assign(self, key: str, val: Any) -> None:
        # python-liquid's own check sums the size of every local at every assignment,
        # which is quadratic in a template with thousands of them; keep a running total.
        self.tick()
        old = self.locals.get(key, _MISSING)
        self.locals_bytes += _sizeof(val) - (0 if old is _MISSING else _sizeof(old))
        self.locals[key] = val
        if self.locals_bytes > MAX_LOCALS_BYTES:
            raise LocalNamespaceLimitError("local namespace limit reached", token=None)

    def get_size_of_locals(self) -> int:
        return self.locals_bytes + self.local_namespace_size_carry


class BudgetedTemplate(BoundTemplate):
    context_class = BudgetedContext


_MISSING = object()


def _sizeof(value: object) -> int:
    # What python-liquid's local_namespace_limit measures.
    return sys.getsizeof(value, 1)


# --- Ranges: refused when made ----------------------------------------------------------


class _BoundedRange(RangeLiteral):
    __slots__ = ()

    def _make_range(self, start: Any, stop: Any) -> range:
        made = super()._make_range(start, stop)
        if made.stop - made.start > MAX_RANGE:  # len() overflows on ranges of 2**63
            raise BudgetError(f"A range can hold at most {MAX_RANGE:,} numbers.", token=self.token)
        return made


def bound_ranges(template: BoundTemplate) -> None:
    """Make every range literal in ``template`` refuse to be longer than MAX_RANGE.

    python-liquid builds range literals in its expression parser, which has no hook, so
    the parsed tree is walked once (templates are parsed once per source) and each
    ``RangeLiteral`` becomes a ``_BoundedRange``: the same fields, one more check.
    """
    static_context = RenderContext(template)
    nodes = list(template.nodes)
    while nodes:
        node = nodes.pop()
        expressions = list(node.expressions())
        while expressions:
            expression = expressions.pop()
            if type(expression) is RangeLiteral:
                expression.__class__ = _BoundedRange
            expressions.extend(expression.children())
        nodes.extend(node.children(static_context, include_partials=False))


# --- Turning values into text -----------------------------------------------------------


def text_weight(value: object, limit: int) -> int:
    """About how many characters ``str(value)`` would take, counted without making it;
    the count stops once it passes ``limit``, so this costs at most ``limit`` steps.
    A list holding one big value a thousand times weighs a thousand of them."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, Mapping):
            total += 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            total += 2
            stack.extend(item)
        else:  # numbers, booleans, None, ranges, dates: short
            total += 24
    return total


def flat_count(value: object, limit: int, level: int = 5) -> int:
    """How many items python-liquid's ``flatten`` would make of ``value`` (nested lists
    expanded ``level`` deep), counted without making them and stopping past ``limit``."""
    if isinstance(value, range):
        return len(value)
    if not isinstance(value, list | tuple):
        return 1
    total, stack = 0, [(value, level)]
    while stack and total <= limit:
        items, depth = stack.pop()
        for item in items:
            if depth and isinstance(item, list | tuple):
                stack.append((item, depth - 1))
            else:
                total += 1
    return total


def check_text(value: object, limit: int = MAX_STRING_CHARS, token: Any = None) -> None:
    """Refuse to turn a container into text longer than ``limit``."""
    if isinstance(value, Mapping | list | tuple) and text_weight(value, limit) > limit:
        raise BudgetError(
            f"A value is too large to turn into text (over {limit // 1024:,} KiB).", token=token
        )


def _write(value: object, context: RenderContext, buffer: Any, token: Any) -> int:
    if isinstance(value, list):
        # Item by item into the limited output stream, instead of python-liquid's join of
        # the whole list first: ``{{ profiles }}`` stops at the output limit.
        written = 0
        for item in value:
            check_text(item, MAX_OUTPUT_BYTES, token)
            written += buffer.write(soft_str(item))
            if isinstance(context, BudgetedContext):
                context.tick(token)
        return written
    check_text(value, MAX_OUTPUT_BYTES, token)
    return buffer.write(to_liquid_string(value, context.autoescape))


class BoundedOutputNode(OutputNode):
    """``{{ value }}``, bounded as it is written."""

    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: Any) -> int:
        return _write(self.expression.evaluate(context), context, buffer, self.token)


class BoundedEchoNode(EchoNode):
    """``{% echo value %}``, bounded as ``{{ value }}`` is."""

    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: Any) -> int:
        return _write(self.expression.evaluate(context), context, buffer, self.token)


class BoundedCycleNode(CycleNode):
    """``{% cycle %}``: its key is the text of all its arguments, so size them first."""

    __slots__ = ()

    def render_to_output(self, context: RenderContext, buffer: Any) -> int:
        check_text([arg.evaluate(context) for arg in self.args], token=self.token)
        return super().render_to_output(context, buffer)
