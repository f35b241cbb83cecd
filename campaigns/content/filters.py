"""Liquid filters within the render's budget (``budget.py``): each filter's inputs sized
before it runs and its result after (``bounded_filter``), and our own ``json``, ``join``
and ``uniq``, which build their result piece by piece and stop at the limit.
"""

import json
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from liquid import RenderContext, soft_str
from liquid.exceptions import FilterArgumentError
from liquid.filter import int_arg, liquid_filter, sequence_filter, with_context
from liquid.undefined import Undefined

from campaigns.content.budget import (
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_JSON_INDENT,
    MAX_STRING_CHARS,
    BudgetedContext,
    FilterBudgetError,
    check_text,
    flat_count,
    text_weight,
)

_MISSING = object()  # a uniq key the item does not have
# The C encoder of json.dumps(..., ensure_ascii=False) for one string.
_encode_string = json.encoder.encode_basestring

# Filters whose left value is a list they walk (python-liquid flattens nested lists five
# levels deep first, so a list of a hundred references to one big list is a big list).
_SEQUENCE_FILTERS = frozenset(
    {"concat", "map", "reverse", "sort", "where", "reject", "find", "find_index", "has"}
    | {"compact", "sum", "join", "uniq"}
)
# Filters that neither walk nor stringify their input: len(), an index, a slice, or the
# value passed through. ``json`` bounds its own text as it builds it.
_CHEAP_FILTERS = frozenset({"size", "first", "last", "default", "slice", "json"})


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its inputs sized before it runs and its result after.

    The checks before are what keep memory bounded (a result is at most a small multiple
    of inputs that passed); the check after stops a chain of filters from growing a value
    step by step.
    """
    precheck = _PRECHECKS.get(name)
    checked, sequence, concat = (
        name not in _CHEAP_FILTERS,
        name in _SEQUENCE_FILTERS,
        name == "concat",
    )

    @wraps(func)  # keeps with_context / with_environment, which python-liquid reads
    def bounded(left: object, *args: Any, **kwargs: Any) -> Any:
        if checked:
            _check_input(left, sequence=sequence)
            for arg in args:
                _check_input(arg, sequence=concat)
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
        return
    kind = type(value)
    if kind is bool or value is None or kind is float or kind is Undefined:
        return  # nothing to size
    if isinstance(value, int) and not isinstance(value, bool):
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
        return
    kind = type(value)
    if kind is bool or value is None or kind is float or kind is Undefined:
        return
    if isinstance(value, int) and not isinstance(value, bool):
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
    scalar = _json_scalar(value)
    if scalar is not None:
        return scalar
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


def _json_scalar(value: object) -> str | None:
    """What the encoder below makes of a string, an int, a boolean, None or a missing
    property (a template's usual ``| json``), without its Python-level walk; None for
    anything else. A string over the limit is refused as the encoder's one piece is."""
    kind = type(value)
    if kind is str:
        if len(value) > MAX_STRING_CHARS:  # its JSON is longer still
            raise _too_big(f"The JSON is over {MAX_STRING_CHARS // 1024:,} KiB.")
        text = _encode_string(value)
        if len(text) > MAX_STRING_CHARS:
            raise _too_big(f"The JSON is over {MAX_STRING_CHARS // 1024:,} KiB.")
        return text
    if kind is int:
        return int.__repr__(value) if value.bit_length() <= MAX_INT_BITS else None
    if kind is bool:
        return "true" if value else "false"
    if value is None or kind is Undefined:
        return "null"
    return None


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
