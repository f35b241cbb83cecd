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
  string filters, ``cycle``) without first estimating that text's size.

Everything over budget raises a ``BudgetError`` (a python-liquid ``LiquidError``) with a
message for the campaign's author; ``template`` turns it into a ``TemplateError`` with
its line, so the editor shows it and the sender fails the delivery with template_error.
"""

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from functools import wraps
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
from liquid.filter import int_arg, liquid_filter, sequence_filter, with_context
from liquid.stringify import to_liquid_string
from liquid.undefined import Undefined

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

# Filters whose left value is a list they walk (python-liquid flattens nested lists five
# levels deep first, so a list of a hundred references to one big list is a big list).
_SEQUENCE_FILTERS = frozenset(
    {"concat", "map", "reverse", "sort", "where", "reject", "find", "find_index", "has"}
    | {"compact", "sum", "join", "uniq"}
)
# Filters that neither walk nor stringify their input: len(), an index, a slice, or the
# value passed through. ``json`` bounds its own text as it builds it.
_CHEAP_FILTERS = frozenset({"size", "first", "last", "default", "slice", "json"})


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


# --- Filters ----------------------------------------------------------------------------


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its inputs sized before it runs and its result after.

    The checks before are what keep memory bounded (a result is at most a small multiple
    of inputs that passed); the check after stops a chain of filters from growing a value
    step by step.
    """
    precheck = _PRECHECKS.get(name)

    @wraps(func)  # keeps with_context / with_environment, which python-liquid reads
    def bounded(left: object, *args: Any, **kwargs: Any) -> Any:
        if name not in _CHEAP_FILTERS:
            _check_input(left, sequence=name in _SEQUENCE_FILTERS)
            for arg in args:
                _check_input(arg, sequence=name == "concat")
        if precheck:
            precheck(left, *args)
        result = func(left, *args, **kwargs)
        _check_result(result)
        return result

    return bounded


def _too_big(message: str) -> FilterBudgetError:
    return FilterBudgetError(message, token=None)


def _check_input(value: object, *, sequence: bool) -> None:
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise _too_big(f"A text over {MAX_STRING_CHARS // 1024:,} KiB cannot be filtered.")
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_int(value)
    elif isinstance(value, list | tuple | range):
        if sequence:
            if flat_count(value, MAX_ITEMS) > MAX_ITEMS:
                raise _too_big(f"A list of more than {MAX_ITEMS:,} items cannot be filtered.")
        elif text_weight(value, MAX_STRING_CHARS) > MAX_STRING_CHARS:
            raise _too_big("A list too large to turn into text cannot be filtered.")
    elif isinstance(value, Mapping) and text_weight(value, MAX_STRING_CHARS) > MAX_STRING_CHARS:
        raise _too_big("An object too large to turn into text cannot be filtered.")


def _check_int(value: int) -> None:
    if value.bit_length() > MAX_INT_BITS:
        raise _too_big(f"Numbers are limited to {MAX_INT_BITS} bits (about 300 digits).")


def _check_result(value: object) -> None:
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise _too_big(f"A filter's result is over {MAX_STRING_CHARS // 1024:,} KiB.")
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_int(value)
    elif isinstance(value, list) and len(value) > MAX_ITEMS:
        raise _too_big(f"A filter's result has more than {MAX_ITEMS:,} items.")


def _replace_size(left: object, old: object = "", new: object = "", count: int = -1) -> None:
    text, old, new = soft_str(left), soft_str(old), soft_str(new)
    found = (len(text) + 1 if not old else text.count(old)) if count < 0 else min(count, 1)
    if len(text) + found * (len(new) - len(old)) > MAX_STRING_CHARS:
        raise _too_big(f"The replacement would make a text over {MAX_STRING_CHARS // 1024:,} KiB.")


def _split_size(left: object, separator: object = None, *_: object) -> None:
    text = soft_str(left)
    parts = len(text) if not separator or isinstance(separator, Undefined) else None
    if parts is None:
        parts = text.count(soft_str(separator)) + 1
    if parts > MAX_ITEMS:
        raise _too_big(f"The split would make more than {MAX_ITEMS:,} items.")


def _concat_size(left: object, other: object = None, *_: object) -> None:
    if flat_count(left, MAX_ITEMS) + flat_count(other, MAX_ITEMS) > MAX_ITEMS:
        raise _too_big(f"The concatenation would make more than {MAX_ITEMS:,} items.")


_PRECHECKS: dict[str, Callable[..., None]] = {
    "replace": _replace_size,
    "replace_first": lambda left, old="", new="", *_: _replace_size(left, old, new, 1),
    "replace_last": lambda left, old="", new="", *_: _replace_size(left, old, new, 1),
    "split": _split_size,
    "concat": _concat_size,
}


@liquid_filter
def json_filter(value: object, indent: object = None) -> str:
    """``{{ x | json }}`` (or ``| json: 2`` to indent): a JSON literal, so strings arrive
    quoted and escaped. Built piece by piece and stopped at MAX_STRING_CHARS, so a huge
    indent or a list of a thousand references to one big value fails before it is made."""
    spaces = int_arg(indent) if indent else None
    if spaces is not None and not 0 <= spaces <= MAX_JSON_INDENT:
        raise _too_big(f"The json filter indents by at most {MAX_JSON_INDENT} spaces.")
    encoder = json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, default=_jsonable, indent=spaces
    )
    pieces, size = [], 0
    for piece in encoder.iterencode(value):
        size += len(piece)
        if size > MAX_STRING_CHARS:
            raise _too_big(f"The JSON is over {MAX_STRING_CHARS // 1024:,} KiB.")
        pieces.append(piece)
    return "".join(pieces)


def _jsonable(value: object) -> object:
    # A missing property is null; anything else JSON lacks (dates, decimals) is its text.
    return None if isinstance(value, Undefined) else str(value)


@sequence_filter
def join_filter(items: Any, separator: object = " ") -> str:
    """python-liquid's ``join``, built piece by piece and stopped at MAX_STRING_CHARS:
    ``(1..100000) | join: big`` fails before the text is made."""
    separator = soft_str(separator)
    pieces, size = [], -len(separator)
    for item in items:
        check_text(item)
        piece = item if isinstance(item, str) else str(item)
        size += len(separator) + len(piece)
        if size > MAX_STRING_CHARS:
            raise _too_big(f"The joined text is over {MAX_STRING_CHARS // 1024:,} KiB.")
        pieces.append(piece)
    return separator.join(pieces)


@with_context
@sequence_filter
def uniq_filter(items: Any, key: object = None, *, context: RenderContext) -> list[object]:
    """python-liquid's ``uniq`` without its quadratic search for values that can be
    hashed (it compares each item with every earlier one): the same result, in order."""
    seen: set[object] = set()
    unhashable: list[object] = []
    result = []
    for item in items:
        if isinstance(context, BudgetedContext):
            context.tick()
        value = _uniq_key(item, key)
        try:
            if value in seen:
                continue
            seen.add(value)
        except TypeError:  # dicts and lists: compared one by one, within the deadline
            if value in unhashable:
                continue
            unhashable.append(value)
        result.append(item)
    return result


def _uniq_key(item: object, key: object) -> object:
    if key is None:
        return item
    try:
        return item[key]  # type: ignore[index]
    except KeyError:
        return _MISSING
    except TypeError as err:
        raise FilterArgumentError(f"can't read property '{key}' of {item}", token=None) from err
