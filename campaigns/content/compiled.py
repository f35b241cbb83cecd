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

import sys
from collections.abc import Callable, Mapping
from typing import Any

from liquid import BoundTemplate, Undefined
from liquid.ast import BlockNode
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions.logical import (
    _contains,
    _le,
    _lt,
)
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
    BoundedEchoNode,
    BoundedOutputNode,
)
from campaigns.content.compiled_expressions import SHADOWED, Expressions, Unsupported
from campaigns.content.compiled_runtime import Bail, Limit

Render = Callable[[Mapping[str, Any], float], str]

_COMMENTS = (CommentNode, InlineCommentNode)
# Python allows 20 nested loops and ``try`` blocks in a function, and a hundred levels
# of indentation; python-liquid refuses scopes deeper than its context_depth_limit.
_MAX_LOOP_DEPTH = 12


def _loops_limit() -> Limit:
    return Limit(LoopIterationLimitError("loop iteration limit reached", token=None))


def _locals_limit() -> Limit:
    return Limit(LocalNamespaceLimitError("local namespace limit reached", token=None))


def _output_limit() -> Limit:
    return Limit(OutputStreamLimitError("output stream limit reached", token=None))


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


class _Generator(Expressions):
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
            if name in SHADOWED:
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
