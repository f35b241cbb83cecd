"""Liquid templates compiled to Python: the render of the usual template, several times
faster.

python-liquid walks its syntax tree for every batch: at a hundred profiles a batch, a
loop over ``profiles`` with a few filters and conditionals spends most of its time
finding each node's method, resolving names through the scope's chain of mappings and
checking the budget. ``compile_template`` turns the tree, once per source, into one
Python function whose loops are Python loops, whose variables are locals (a loop's
variable, ``forloop.index``) and whose lookups into profiles are dict lookups. The
source it generates holds no text of the template's but ``repr`` of strings: every
other value, filter and token is passed in by index.

It compiles only what it can reproduce exactly: text, output, ``assign``, ``if`` /
``elsif`` / ``else``, ``unless``, ``for`` over a value without ``limit`` / ``offset`` /
``reversed`` / ``break`` / ``continue``, comments, paths of names and indexes, literals,
comparisons, ``and`` / ``or``, and the environment's filters (``compiled_runtime``).
Anything else returns None, and the template is always interpreted. At render time the
function gives up (``Bail``) at the first thing off its path: a value other than a
dict, list or string to look into, an exception of any kind (a filter's error, a budget
limit), the deadline. ``template.render`` then renders the template again with
python-liquid, within what is left of the same deadline, which gives the body or the
error, with its message and line, exactly as before. The limits python-liquid checks at
a known point (the loop count, a nest of loops, the output in UTF-8 bytes, what assigned
variables hold) raise its own error at that same point (``Limit``), with the line of
the statement running, as its render gives them.
"""

import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any

from liquid import BoundTemplate, Undefined
from liquid.ast import BlockNode
from liquid.builtin.content import ContentNode
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
    _contains,
    _le,
    _lt,
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
from liquid.builtin.tags.assign_tag import AssignNode
from liquid.builtin.tags.comment_tag import CommentNode
from liquid.builtin.tags.for_tag import ForNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.inline_comment_tag import InlineCommentNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.exceptions import (
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
)

from campaigns.content import compiled_runtime as runtime
from campaigns.content import filters
from campaigns.content.budget import (
    MAX_LOCALS_BYTES,
    MAX_LOOP_ITERATIONS,
    MAX_OUTPUT_BYTES,
    MAX_STRING_CHARS,
    BoundedEchoNode,
    BoundedOutputNode,
)
from campaigns.content.compiled_runtime import Bail, Limit

Render = Callable[[Mapping[str, Any], float], str]

_LITERALS = (Nil, TrueLiteral, FalseLiteral, StringLiteral, IntegerLiteral, FloatLiteral)
_COMMENTS = (CommentNode, InlineCommentNode)
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
_SHADOWED = frozenset({"partial", "template", "now", "today", "forloop"})
# Python allows 20 nested loops and ``try`` blocks in a function, and a hundred levels
# of indentation; python-liquid refuses scopes deeper than its context_depth_limit.
_MAX_LOOP_DEPTH = 12
_COMPARISONS = {
    EqExpression: "equal({0}, {1})",
    NeExpression: "(not equal({0}, {1}))",
    LtExpression: "_lt({t}, {0}, {1})",
    GtExpression: "_lt({t}, {1}, {0})",
    LeExpression: "_le({0}, {1})",
    GeExpression: "_le({1}, {0})",
    ContainsExpression: "_contains({t}, {0}, {1})",
}


def _loops_limit() -> Limit:
    return Limit(LoopIterationLimitError("loop iteration limit reached", token=None))


def _locals_limit() -> Limit:
    return Limit(LocalNamespaceLimitError("local namespace limit reached", token=None))


def _output_limit() -> Limit:
    return Limit(OutputStreamLimitError("output stream limit reached", token=None))


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


def compile_template(template: BoundTemplate) -> Render | None:
    """A function rendering ``template`` as python-liquid would, given the variables
    and a deadline (``time.monotonic``), or None when the template uses something it
    does not compile. The function raises ``Bail`` whenever it cannot finish exactly
    as python-liquid would, and python-liquid's own error (a ``LiquidError``) for the
    limits it checks at a known point."""
    env = template.env
    if env.globals or template.matter or env.autoescape or env.string_sequences:
        return None
    generator = _Generator(template)
    try:
        source = generator.function(template.nodes)
        namespace = generator.namespace()
        exec(compile(source, "<liquid template>", "exec"), namespace)  # noqa: S102
    except (Unsupported, SyntaxError, RecursionError, MemoryError):
        return None
    return namespace["render"]


class _Generator:
    def __init__(self, template: BoundTemplate):
        self.template = template
        self.env = template.env
        self.constants: list[Any] = []  # K[i]: values, tokens, walkers and filters
        self.lines: list[str] = []
        self.depth = 1  # indentation, in levels of four spaces
        self.scope: list[tuple[str, int]] = []  # enclosing loops: (variable, number)
        self.loops = 0
        self.temporaries = 0

    def namespace(self) -> dict[str, Any]:
        return {
            "K": self.constants,
            "State": runtime.State,
            "TEMPLATE": self.template,
            "Bail": Bail,
            "Limit": Limit,
            "Undefined": Undefined,
            "monotonic": runtime.monotonic,
            "encode_string": filters._encode_string,
            "text_of": runtime.text_of,
            "getsizeof": sys.getsizeof,
            "MISSING": runtime.MISSING,
            "LOCALS": _locals_limit,
            "truthy": runtime.truthy,
            "equal": runtime.equal,
            "_lt": _lt,
            "_le": _le,
            "_contains": _contains,
            "LOOPS": _loops_limit,
            "OUTPUT": _output_limit,
        }

    def constant(self, value: Any) -> str:
        if type(value) is str:
            return repr(value)  # a valid literal of any string, and nothing else
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def temporary(self) -> str:
        self.temporaries += 1
        return f"t{self.temporaries}"

    # --- Statements ---------------------------------------------------------------------

    def function(self, nodes: list) -> str:
        self.emit("state = State(TEMPLATE, G, deadline)")
        self.emit("L = state.locals")
        self.emit("out = []")
        self.emit("w = out.append")
        self.emit("size = 0")
        self.emit("iterations = 0")
        self.emit("nest = 1")
        self.emit("held = 0")
        self.emit("top = 0")
        self.emit("try:")
        self.depth += 1
        tokens = []
        for number, node in enumerate(nodes):
            tokens.append(node.token)
            self.emit(f"top = {number}")
            self.node(node)
        self.emit("pass")
        self.depth -= 1
        self.emit("except Limit as limit:")
        # As BoundTemplate.render_with_context gives it: at the statement running.
        self.emit(f"    limit.error.token = {self.constant(tokens)}[top]")
        self.emit("    raise limit.error from None")
        self.emit("except Bail:")
        self.emit("    raise")
        self.emit("except Exception as error:  # anything at all: the interpreter says what")
        self.emit("    raise Bail from error")
        self.emit('return "".join(out)')
        return "def render(G, deadline):\n" + "\n".join(self.lines) + "\n"

    def node(self, node: Any) -> None:
        kind = type(node)
        if kind is ContentNode:
            self.emit(f"size += {len(node.text.encode())}")
            self.emit(f"if size > {MAX_OUTPUT_BYTES}: raise OUTPUT()")
            self.emit(f"w({self.constant(node.text)})")
        elif kind is BoundedOutputNode or kind is BoundedEchoNode:
            value = self.temporary()
            self.emit(f"{value} = {self.expression(node.expression)}")
            self.emit(f"if type({value}) is not str: {value} = text_of({value})")
            # LimitedStringIO's count: UTF-8 bytes.
            self.emit(f"size += len({value}) if {value}.isascii() else len({value}.encode())")
            self.emit(f"if size > {MAX_OUTPUT_BYTES}: raise OUTPUT()")
            self.emit(f"w({value})")
        elif kind is AssignNode:
            name = str(node.name)
            if name in _SHADOWED:
                raise Unsupported(name)
            # budget.BudgetedContext.assign: a running total of what the locals hold.
            value, old, name = self.temporary(), self.temporary(), self.constant(name)
            self.emit(f"{value} = {self.expression(node.expression)}")
            self.emit(f"{old} = L.get({name}, MISSING)")
            self.emit(
                f"held += getsizeof({value}, 1) - (0 if {old} is MISSING else getsizeof({old}, 1))"
            )
            self.emit(f"L[{name}] = {value}")
            self.emit(f"if held > {MAX_LOCALS_BYTES}: raise LOCALS()")
        elif kind is IfNode or kind is UnlessNode:
            self.conditional(node, negate=kind is UnlessNode)
        elif kind is ForNode:
            self.loop(node)
        elif kind not in _COMMENTS:
            raise Unsupported(kind.__name__)

    def block(self, block: BlockNode) -> None:
        self.depth += 1
        if self.env.suppress_blank_control_flow_blocks and block.blank:
            # python-liquid renders a blank block into nothing (its assigns still count).
            saved = self.temporary()
            self.emit(f"{saved} = (w, size)")
            self.emit('w, size = [].append, float("-inf")')
            for node in block.nodes:
                self.node(node)
            self.emit(f"w, size = {saved}")
        else:
            for node in block.nodes:
                self.node(node)
        self.emit("pass")
        self.depth -= 1

    def conditional(self, node: IfNode | UnlessNode, negate: bool) -> None:
        condition = self.expression(node.condition)
        self.emit(f"if {'not ' if negate else ''}{condition}:")
        self.block(node.consequence)
        for alternative in node.alternatives:
            self.emit(f"elif {self.expression(alternative.expression)}:")
            self.block(alternative.block)
        if node.default:
            self.emit("else:")
            self.block(node.default)

    def loop(self, node: ForNode) -> None:
        loop = node.expression
        if loop.limit is not None or loop.offset is not None or loop.reversed or loop.cols:
            raise Unsupported("for with limit, offset or reversed")
        if len(self.scope) >= _MAX_LOOP_DEPTH:
            raise Unsupported("loops nested too deep")
        number = self.loops
        self.loops += 1
        items = f"items{number}"
        self.emit(f"{items} = {self.expression(loop.iterable)}")
        self.emit(f"if type({items}) is not list:")
        # python-liquid iterates an undefined value as an empty mapping; mappings, ranges
        # and strings are the interpreter's.
        self.emit(f"    if type({items}) is Undefined: {items} = ()")
        self.emit("    else: raise Bail")
        self.emit(f"n{number} = len({items})")
        self.emit(f"if n{number}:")
        self.depth += 1
        self.emit(f"if nest * n{number} > {MAX_LOOP_ITERATIONS}: raise LOOPS()")  # up front
        self.emit(f"outer{number} = nest")
        self.emit(f"nest = nest * n{number}")
        self.emit(f"for i{number}, v{number} in enumerate({items}):")
        self.emit("    iterations += 1")
        self.emit(f"    if iterations > {MAX_LOOP_ITERATIONS}: raise LOOPS()")
        self.emit("    if monotonic() > deadline: raise Bail")
        self.scope.append((str(loop.identifier), number))
        try:
            self.block(node.block)
        finally:
            self.scope.pop()
        self.emit(f"nest = outer{number}")
        self.depth -= 1
        if node.default:
            self.emit("else:")
            self.block(node.default)

    # --- Expressions: Python expressions of the locals above ------------------------------

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
        if root in _SHADOWED:
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
