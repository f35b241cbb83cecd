"""What compiled Liquid templates call (``compiled``): paths, filters and
conditions, each python-liquid's own behaviour on the values a body usually holds, and
``Bail`` (render with python-liquid instead) on anything else.

Filters are the environment's own functions, bounded as ever (``filters.bounded_filter``);
a few are computed in place on strings, numbers and missing values, exactly as their
python-liquid code does for those, within the same size limits.
"""

import inspect
from collections.abc import Callable, Mapping
from time import monotonic
from typing import Any

from liquid import BoundTemplate, Undefined
from liquid.builtin.expressions.logical import _eq, is_truthy
from liquid.builtin.expressions.primitive import Blank, Empty
from liquid.builtin.filters import array as array_filters
from liquid.builtin.filters import misc as misc_filters
from liquid.builtin.filters import string as string_filters
from liquid.context import _segments_str
from liquid.exceptions import LiquidError

from campaigns.content import filters
from campaigns.content.budget import MAX_ITEMS, MAX_STRING_CHARS

MISSING = object()
_SPECIAL_KEYS = frozenset({"size", "first", "last"})


class Bail(Exception):
    """The compiled render left its path: render with the interpreter instead."""


class Limit(Exception):
    """A resource limit python-liquid raises at this very point (the loop count, a nest
    of loops, the output, the assigned variables), without a token of its own: raised
    as it is, since rendering again would only spend the deadline to say the same."""

    def __init__(self, error: LiquidError):
        super().__init__(str(error))
        self.error = error


class State:
    """One render's own: the variables it assigned, its deadline, and a render context
    for the filters that take one (``uniq`` keeps the deadline through it)."""

    __slots__ = ("deadline", "locals", "context")

    def __init__(self, template: BoundTemplate, names: Mapping[str, Any], deadline: float):
        self.deadline = deadline
        self.locals: dict[str, Any] = {}
        self.context = template.context_class(template, globals=names)
        self.context.deadline = deadline


def text_of(value: Any) -> str:
    """``to_liquid_string`` of what is not a string: numbers, booleans, nil, undefined."""
    kind = type(value)
    if kind is int or kind is float:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None or kind is Undefined:
        return ""
    raise Bail  # containers: sized and written item by item by the interpreter


def truthy(value: Any) -> bool:
    kind = type(value)
    if kind is bool:
        return value
    if kind is str or kind is int or kind is dict or kind is list:
        return True  # what is_truthy says of anything but false, nil and undefined
    return is_truthy(value)


def equal(left: Any, right: Any) -> bool:
    # logical._eq compares two strings with ==: the usual ``p.plan == "gold"``; a string
    # and ``blank`` or ``empty`` by theirs: ``p.Push_token != blank``.
    if type(left) is str:
        kind = type(right)
        if kind is str:
            return left == right
        if kind is Blank or kind is Empty:
            return right == left
    return _eq(left, right)


def walker(rest: tuple, segments: list, token: Any) -> Callable[[Any], Any]:
    """Look ``rest`` up from a root value as RenderContext.get_item does, for dicts,
    lists and strings; a missing key of a dict is Undefined, as python-liquid makes it."""

    def walk(found: Any) -> Any:
        for position, key in enumerate(rest):
            kind = type(found)
            if kind is dict:
                try:
                    found = found[key]
                except KeyError:
                    if key in _SPECIAL_KEYS or type(key) is not str:
                        raise Bail from None
                    hint = f"{_segments_str(segments[: position + 2])} is undefined"
                    return Undefined(segments[0], hint=hint, token=token)
            elif kind is list:
                if key == "size":
                    found = len(found)
                elif type(key) is int:
                    found = found[key]  # IndexError: the interpreter's Undefined
                elif key == "first":
                    found = found[0]
                elif key == "last":
                    found = found[-1]
                else:
                    raise Bail
            elif kind is str and key == "size":
                found = len(found)
            elif kind is Undefined:
                return found  # an Undefined's every item is itself
            else:
                raise Bail
        return found

    return walk


# --- Filters ------------------------------------------------------------------------------

# Filters on a string computed in place, when their input is a string within the size a
# filter takes (else the filter itself runs): exactly python-liquid's code for strings.
_STRING_FILTERS: dict[Callable[..., Any], Callable[[str], str]] = {
    inspect.unwrap(string_filters.downcase): str.lower,
    inspect.unwrap(string_filters.upcase): str.upper,
    inspect.unwrap(string_filters.capitalize): str.capitalize,
    inspect.unwrap(string_filters.strip): str.strip,
    inspect.unwrap(string_filters.lstrip): str.lstrip,
    inspect.unwrap(string_filters.rstrip): str.rstrip,
}
_JOINING_FILTERS: dict[Callable[..., Any], Callable[[str, str], str]] = {
    inspect.unwrap(string_filters.append): lambda value, argument: value + argument,
    inspect.unwrap(string_filters.prepend): lambda value, argument: argument + value,
}


def filter_function(
    func: Callable[..., Any], env: Any, positional: int, constants: list, keywords: bool
) -> Callable[..., Any]:
    """The environment's filter ``func`` as compiled templates call it, ``(state,
    value, *arguments, **keywords)``: computed in place where ``inplace`` has a form
    for it, else the filter itself with what python-liquid passes it."""
    inline = None if keywords else inplace(func, positional, constants, env)
    if inline:
        return inline
    extra: dict[str, Any] = {}
    if getattr(func, "with_environment", False):
        extra["environment"] = env
    with_context = getattr(func, "with_context", False)

    def call(state: State, value: Any, *args: Any, **kwargs: Any) -> Any:
        if monotonic() > state.deadline:
            raise Bail
        if with_context:
            kwargs["context"] = state.context
        return func(value, *args, **kwargs, **extra)

    return call


def inplace(  # noqa: C901 (one case per filter)
    func: Callable[..., Any], positional: int, constants: list, env: Any
) -> Callable[..., Any] | None:
    """The filter ``func`` on strings without its wrappers, or None where it has no such
    form: ``filters.json_filter``'s strings, numbers and booleans, and python-liquid's
    own string filters (``unwrap`` finds the function its wrappers were made from)."""
    original = inspect.unwrap(func)
    if original is filters.json_filter.__wrapped__ and not positional:

        def json_scalar(state: State, value: Any) -> Any:
            text = filters._json_scalar(value)
            return func(value) if text is None else text

        return json_scalar
    if original in _STRING_FILTERS and not positional:
        operation = _STRING_FILTERS[original]

        def string(state: State, value: Any) -> Any:
            if monotonic() > state.deadline:
                raise Bail
            if type(value) is not str or len(value) > MAX_STRING_CHARS:
                return func(value)
            result = operation(value)
            if len(result) > MAX_STRING_CHARS:
                raise Bail
            return result

        return string
    if original in _JOINING_FILTERS and positional == 1:
        joining = _JOINING_FILTERS[original]

        def joined(state: State, value: Any, other: Any) -> Any:
            if monotonic() > state.deadline:
                raise Bail
            if type(value) is not str or type(other) is not str:
                return func(value, other)
            if len(value) > MAX_STRING_CHARS or len(other) > MAX_STRING_CHARS:
                return func(value, other)
            result = joining(value, other)
            if len(result) > MAX_STRING_CHARS:
                raise Bail
            return result

        return joined
    if original is misc_filters.default.__wrapped__ and positional <= 1:

        def default(state: State, value: Any, *args: Any) -> Any:
            kind = type(value)
            if (kind is str and value) or kind is int or kind is float:
                return value  # neither nil, false nor empty: itself
            return func(value, *args)

        return default
    if original is array_filters.first.__wrapped__ and not positional:

        def first(state: State, value: Any) -> Any:
            if type(value) is not list:
                return func(value, environment=env)
            result = value[0] if value else None
            filters._check_result(result)
            return result

        return first
    if original is string_filters.split.__wrapped__ and len(constants) == 1:
        (separator,) = constants
        if type(separator) is not str or not separator:
            return None

        def split(state: State, value: Any, argument: Any) -> Any:
            if monotonic() > state.deadline:
                raise Bail
            if type(value) is not str or len(value) > MAX_STRING_CHARS:
                return func(value, separator)
            if value.count(separator) + 1 > MAX_ITEMS:  # filters._split_size's limit
                return func(value, separator)
            if not value or value == separator:
                return []
            return value.split(None if separator == " " else separator)

        return split
    return None
