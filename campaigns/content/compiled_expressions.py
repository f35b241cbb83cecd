"""The expressions of a compiled Liquid template (``compiled``): literals, paths of names
and indexes, comparisons, ``and`` / ``or`` and filters, each as a Python expression of
the generated function's locals. The generator mixes ``Expressions`` in; it provides
``constant`` (a value passed in by index, or a string's ``repr``), ``temporary`` (a
fresh local), ``scope`` (the enclosing loops' variables) and ``env``."""

import inspect
from typing import Any

from liquid.builtin.expressions.arguments import KeywordArgument, PositionalArgument
from liquid.builtin.expressions.filtered import FilteredExpression
from liquid.builtin.expressions.logical import (
    BooleanExpression,
    ContainsExpression,
    EqExpression,
    GeExpression,
    GtExpression,
    LeExpression,
    LogicalAndExpression,
    LogicalNotExpression,
    LogicalOrExpression,
    LtExpression,
    NeExpression,
)
from liquid.builtin.expressions.path import Path
from liquid.builtin.expressions.primitive import (
    Blank,
    Empty,
    FalseLiteral,
    FloatLiteral,
    IntegerLiteral,
    Nil,
    StringLiteral,
    TrueLiteral,
)
from liquid.builtin.filters import string as string_filters

from campaigns.content import compiled_runtime as runtime
from campaigns.content import filters
from campaigns.content.budget import (
    MAX_STRING_CHARS,
)

_LITERALS = (Nil, TrueLiteral, FalseLiteral, StringLiteral, IntegerLiteral, FloatLiteral)
_FORLOOP = {
    "index": "(i{0} + 1)",
    "index0": "i{0}",
    "rindex": "(n{0} - i{0})",
    "rindex0": "(n{0} - i{0} - 1)",
    "first": "(i{0} == 0)",
    "last": "(i{0} == n{0} - 1)",
    "length": "n{0}",
}
# Names python-liquid's render puts in front of the template's own (its partial
# namespace) or behind them (built-ins): left to the interpreter.
SHADOWED = frozenset({"partial", "template", "now", "today", "forloop"})
_COMPARISONS = {
    EqExpression: "equal({0}, {1})",
    NeExpression: "(not equal({0}, {1}))",
    LtExpression: "_lt({t}, {0}, {1})",
    GtExpression: "_lt({t}, {1}, {0})",
    LeExpression: "_le({0}, {1})",
    GeExpression: "_le({1}, {0})",
    ContainsExpression: "_contains({t}, {0}, {1})",
}


# python-liquid's string filters, as the str methods they are on strings.
_STRING_METHODS = {
    inspect.unwrap(string_filters.downcase): "lower",
    inspect.unwrap(string_filters.upcase): "upper",
    inspect.unwrap(string_filters.capitalize): "capitalize",
    inspect.unwrap(string_filters.strip): "strip",
    inspect.unwrap(string_filters.lstrip): "lstrip",
    inspect.unwrap(string_filters.rstrip): "rstrip",
}
_JOINING_ORDER = {
    inspect.unwrap(string_filters.append): "{0} + {1}",
    inspect.unwrap(string_filters.prepend): "{1} + {0}",
}


class Unsupported(Exception):
    """The template uses something ``compile_template`` does not reproduce."""


class Expressions:
    """Python expressions of Liquid ones (a mixin of ``compiled``'s generator)."""

    def expression(self, expression: Any) -> str:  # noqa: PLR0911
        kind = type(expression)
        if kind in _LITERALS:
            return self.constant(None if kind is Nil else expression.value)
        if kind is Empty or kind is Blank:
            return self.constant(expression)  # compared by its own __eq__
        if kind is Path:
            return self.path(expression)
        if kind is FilteredExpression:
            return self.filtered(expression)
        if kind is BooleanExpression:
            return f"truthy({self.expression(expression.expression)})"
        if kind is LogicalNotExpression:
            return f"(not truthy({self.expression(expression.right)}))"
        if kind is LogicalAndExpression or kind is LogicalOrExpression:
            left, right = self.expression(expression.left), self.expression(expression.right)
            operator = "and" if kind is LogicalAndExpression else "or"
            return f"(truthy({left}) {operator} truthy({right}))"
        if kind in _COMPARISONS:
            left, right = self.expression(expression.left), self.expression(expression.right)
            token = self.constant(expression.token)
            return _COMPARISONS[kind].format(left, right, t=token)
        raise Unsupported(kind.__name__)

    def filtered(self, expression: FilteredExpression) -> str:
        value = self.expression(expression.left)
        for item in expression.filters or ():
            func = self.env.filters.get(item.name)
            if func is None:
                raise Unsupported(f"unknown filter {item.name}")
            positional: list[str] = []
            constants: list[Any] = []
            keywords: list[str] = []
            for argument in item.args:
                if type(argument) is PositionalArgument:
                    positional.append(self.expression(argument.value))
                    literal = type(argument.value) in _LITERALS
                    constants.append(argument.value.value if literal else runtime.MISSING)
                elif type(argument) is KeywordArgument:
                    name = self.constant(str(argument.name))
                    keywords.append(f"{name}: {self.expression(argument.value)}")
                else:
                    raise Unsupported(type(argument).__name__)
            call = runtime.filter_function(
                func, self.env, len(positional), constants, bool(keywords)
            )
            inline = None if keywords else self.inline(func, value, positional, call)
            arguments = "".join(f", {argument}" for argument in positional)
            if keywords:
                arguments += f", **{{{', '.join(keywords)}}}"
            value = inline or f"{self.constant(call)}(state, {value}{arguments})"
        return value

    def inline(self, func: Any, value: str, positional: list[str], call: Any) -> str | None:
        """The filter written out for the strings it usually gets, within sizes its
        result cannot pass the limit from; else (the same expression) its function."""
        original, call = inspect.unwrap(func), self.constant(call)
        found = self.temporary()
        if original is filters.json_filter.__wrapped__ and not positional:
            # A JSON string escapes each character in at most six.
            return (
                f"(encode_string({found}) if type({found} := {value}) is str"
                f" and len({found}) <= {MAX_STRING_CHARS // 6 - 1} else {call}(state, {found}))"
            )
        method = _STRING_METHODS.get(original)
        if method and not positional:
            # A character's case mapping is at most three.
            return (
                f"({found}.{method}() if type({found} := {value}) is str"
                f" and len({found}) <= {MAX_STRING_CHARS // 3} else {call}(state, {found}))"
            )
        order = _JOINING_ORDER.get(original)
        if order and len(positional) == 1:
            other = self.temporary()
            joined = order.format(found, other)
            return (
                f"({joined} if (({found} := {value}), ({other} := {positional[0]}))"
                f" and type({found}) is str and type({other}) is str"
                f" and len({found}) + len({other}) <= {MAX_STRING_CHARS}"
                f" else {call}(state, {found}, {other}))"
            )
        return None

    def path(self, expression: Path) -> str:
        segments = expression.path
        if any(type(s) not in (str, int) for s in segments) or type(segments[0]) is not str:
            raise Unsupported("nested path")
        root, rest = str(segments[0]), tuple(segments[1:])
        for name, number in reversed(self.scope):
            if name == root:
                return self.walk(f"v{number}", rest, segments, expression.token)
        if root == "forloop" and self.scope:
            if len(rest) != 1 or rest[0] not in _FORLOOP:
                raise Unsupported("forloop property")
            return _FORLOOP[rest[0]].format(self.scope[-1][1])
        if root in SHADOWED:
            raise Unsupported(root)
        name = self.constant(root)
        # Assigned, else given; neither (a missing global): G[...] raises, and the
        # interpreter says what it is.
        return self.walk(
            f"(L[{name}] if {name} in L else G[{name}])", rest, segments, expression.token
        )

    def walk(self, root: str, rest: tuple, segments: list, token: Any) -> str:
        if not rest:
            return root
        general = self.constant(runtime.walker(rest, segments, token))
        found = self.temporary()
        if len(rest) <= 2 and all(type(key) is str for key in rest):
            # ``p.Email``, ``p.ProfileData.city``: dicts all the way, else the general walk.
            first = self.constant(rest[0])
            if len(rest) == 1:
                return (
                    f"({found}[{first}] if type({found} := {root}) is dict and {first} in {found}"
                    f" else {general}({found}))"
                )
            inner, second = self.temporary(), self.constant(rest[1])
            return (
                f"({inner}[{second}] if type({found} := {root}) is dict"
                f" and type({inner} := {found}.get({first})) is dict and {second} in {inner}"
                f" else {general}({found}))"
            )
        return f"{general}({root})"
