"""The Liquid budget benchmark: the worst custom bodies we could write within the form's
limits, each checked and rendered as a batch would be, in a process of its own.

``CASES`` maps a name to a template of at most ``template.MAX_SOURCE_CHARS`` characters.
``measure(name)`` runs in a fresh Python process (``run_case`` starts it): it builds the
context of a full batch (``MAX_BATCH`` profiles with twenty properties each, fifty
key_values and a 256 KiB linked answer shared by every profile, as the run's cache shares
it), then times ``template.check`` and ``template.render`` as the sender calls them, and
reports the wall time, the growth of the peak resident memory (``VmHWM``) and, in a
second render with tracemalloc on, the peak of Python allocations. Only what the
template does is measured: the context is built before the baseline is taken.
"""

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from campaigns.content import template
from campaigns.content.payload import Recipient

MAX_BATCH = 1000  # campaigns.wizard.what.MAX_BATCH (not imported: it would load Django)
LIMIT = template.MAX_SOURCE_CHARS


def fill(unit: str, head: str = "", tail: str = "") -> str:
    """``head``, then ``unit`` as many times as fits in the form's limit, then ``tail``."""
    room = LIMIT - len(head) - len(tail)
    return head + unit * (room // len(unit)) + tail


def half_mib(eight: str = "xxxxxxxx") -> str:
    """Assigns ``s`` a 512 KiB string without a loop: ``eight`` characters doubled 16 times."""
    return f"{{% assign s = '{eight}' %}}" + "{% assign s = s | append: s %}" * 16


def numbered(unit: str) -> str:
    """``unit`` with ``{n}`` numbered 0, 1, 2... as many times as fits in the limit."""
    pieces, size, n = [], 0, 0
    while size + len(unit.format(n=n)) <= LIMIT:
        pieces.append(unit.format(n=n))
        size, n = size + len(pieces[-1]), n + 1
    return "".join(pieces)


CASES: dict[str, str] = {
    # The issue's own findings.
    "loops_x100": "{% for i in (1..99999) %}{% endfor %}\n" * 100,
    "loops_at_max_size": fill("{% for i in (1..99999) %}{% endfor %}\n"),
    "range_join": "{{ (1..10000000) | join: ',' | size }}",
    "json_huge_indent": "{{ profiles | json: 30000000 | size }}",
    # Work: the whole loop budget spent on the slowest bodies we found.
    "nested_loops_heavy_body": fill(
        "{{ profiles | where: 'Identity', i | size }}",
        "{% for i in (1..316) %}{% for j in (1..316) %}",
        "{% endfor %}{% endfor %}",
    ),
    "loop_sort_natural": (
        "{% for i in (1..100000) %}{{ key_values | sort_natural | size }}{% endfor %}"
    ),
    "range_join_at_max_size": fill("{{ (1..100000) | join: ',' | size }}"),
    "uniq_at_max_size": fill("{{ (1..100000) | uniq | size }}"),
    "json_profiles_at_max_size": fill("{{ profiles | json: 8 | size }}"),
    "upcase_half_mib_at_max_size": fill("{{ s | upcase | size }}", half_mib()),
    "contains_half_mib_at_max_size": fill("{% if s contains 'y' %}{% endif %}", half_mib()),
    "many_assigns": numbered("{{%assign a{n}=1%}}"),
    # 3**10 iterations under 29 levels of tags (python-liquid refuses a 31st).
    "deep_nesting": fill(
        "{% assign x = i %}",
        "{% for i in (1..3) %}" * 10 + "{% if true %}" * 19,
        "{% endif %}" * 19 + "{% endfor %}" * 10,
    ),
    # Memory: values that grow, and conversions of big values to text.
    "assign_doubling": (
        "{% assign s = 'xx' %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}"
    ),
    "capture_doubling": (
        "{% capture s %}xx{% endcapture %}"
        "{% for i in (1..64) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}"
    ),
    "concat_doubling": (
        "{% assign l = profiles %}"
        "{% for i in (1..64) %}{% assign l = l | concat: l %}{% endfor %}{{ l | size }}"
    ),
    "output_profiles": fill("{{ profiles }}"),
    "string_filter_on_profiles": fill("{{ profiles | upcase | size }}"),
    "sort_natural_profiles": fill("{{ profiles | sort_natural | size }}"),
    "cycle_profiles": fill("{% cycle profiles, profiles %}"),
    "newline_to_br_half_mib_at_max_size": fill(
        "{{ s | newline_to_br | size }}", half_mib("\n" * 8)
    ),
    "escape_half_mib_at_max_size": fill("{{ s | escape | size }}", half_mib('"' * 8)),
    "replace_empty_with_half_mib": half_mib() + "{{ s | replace: '', s | size }}",
    "split_sort_join": half_mib()
    + "{% assign t = s | slice: 0, 99999 %}"
    + "{{ t | split: '' | sort | reverse | join: 'abc' | size }}",
    "times_squared": (
        "{% assign x = 7 %}{% for i in (1..64) %}{% assign x = x | times: x %}{% endfor %}{{ x }}"
    ),
    "filter_chain_at_max_size": fill(" | append: key_values.k01", "{{ 'x'", " | size }}"),
    # A body that works: the figure to compare the others with.
    "normal_body": (
        '{"campaign": {{ targetId }}, "users": [{% for p in profiles %}'
        '{"email": {{ p.Email | json }}, "city": {{ p.ProfileData.city | json }}}'
        "{% unless forloop.last %},{% endunless %}{% endfor %}]}"
    ),
}


@dataclass(frozen=True)
class Figures:
    name: str
    chars: int
    seconds: float
    rss_mb: float  # growth of the peak resident set while checking and rendering
    traced_mb: float  # peak of Python allocations in a second, traced render
    outcome: str  # "rendered N bytes" or "refused: <message>"


def batch_context() -> dict:
    """A full batch: MAX_BATCH profiles of twenty properties, fifty key_values, and one
    256 KiB linked answer that every profile's ``linked`` shares."""
    feed = {"items": [{"id": n, "title": f"Item {n:06d}", "tags": ["a", "b"]} for n in range(4200)]}
    recipients = [
        Recipient(
            identity=f"user-{n:05d}",
            email=f"user{n}@example.com",
            object_id=f"obj-{n}",
            push_token=f"token-{n}",
            properties={"city": f"City {n % 97}", **{f"p{k:02d}": f"value {k}" for k in range(19)}},
        )
        for n in range(MAX_BATCH)
    ]
    key_values = {f"k{n:02d}": f"value {n}" for n in range(50)}
    context = template.context_for(1, key_values, recipients, {"feed": feed})
    for entry in context["profiles"]:
        entry["linked"] = {"feed": feed}
    return context


def _render(source: str, context: dict) -> str:
    problems = template.check(source)
    if problems:
        first = problems[0]
        return f"refused at check: line {first.line}: {first.message}"
    try:
        return f"rendered {len(template.render(source, context).encode()):,} bytes"
    except template.TemplateError as error:
        return f"refused at render: {error}"


def measure(name: str) -> Figures:
    """Check and render case ``name`` here (call it in a fresh process)."""
    source = CASES[name]
    context = batch_context()
    before = _peak_rss_kib()
    started = time.perf_counter()
    outcome = _render(source, context)
    seconds = time.perf_counter() - started
    rss_mb = (_peak_rss_kib() - before) / 1024
    template._compile_small.cache_clear()
    template._compile_large.cache_clear()
    template._trial.cache_clear()
    tracemalloc.start()
    _render(source, context)
    traced_mb = tracemalloc.get_traced_memory()[1] / 1024 / 1024
    tracemalloc.stop()
    return Figures(name, len(source), seconds, rss_mb, traced_mb, outcome)


def _peak_rss_kib() -> int:
    # VmHWM is this process's own peak. ru_maxrss is not on Linux: it keeps the peak of
    # the process that exec'd us (the management command, with Django loaded) when larger.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_case(name: str) -> Figures:
    """``measure(name)`` in a child process, so each case starts from the same memory."""
    code = (
        "import json, dataclasses; from campaigns.bench.liquid import measure; "
        f"print(json.dumps(dataclasses.asdict(measure({name!r}))))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    return Figures(**json.loads(done.stdout.strip().splitlines()[-1]))
