"""Compiled Liquid templates: the same text as python-liquid's, or python-liquid itself.

Each template below is rendered both ways, compiled and interpreted, and must give the
same text; what the compiler leaves out is interpreted, and whatever goes wrong in a
compiled render is rendered again by python-liquid, so errors keep their messages and
lines, and the budget its limits, within the same deadline.
"""

import time

import pytest
from liquid.exceptions import LiquidError

from campaigns.content import budget, template
from campaigns.content.compiled import Bail, compile_template
from campaigns.content.payload import Recipient
from campaigns.content.template import TemplateError, context_for, render
from campaigns.management.commands.bench_fanout import LIQUID_BODY

PROFILES = [
    Recipient(
        identity="jo",
        email="Jo@Example.com",
        push_token="tok-1",
        properties={
            "name": 'Jo "the Bold"\nSmith\\',
            "city": "Zürich",
            "plan": "free",
            "vip": False,
            "Last Score": 308,
            "ratio": 0.25,
            "tags": ["a", "b", "c"],
            "address": {"street": "Main St", "zip": None},
            "count": 0,
        },
        event_properties={"sku": "X-1", "amount": 12.5},
    ),
    Recipient(identity="al", email="al@example.com", properties={"plan": "gold", "vip": True}),
    Recipient(
        identity="ünï",
        email="",
        properties={"name": "Ünï Cødé 😀", "plan": "basic", "tags": [], "count": 4},
    ),
]
VALUES = [
    "a,b", " a  b ", ",", "", " \n", "x", "ß straße", 0, 0.0, 7, 2.5, True, False, None,
    [], ["p", "q"], {}, {"k": "v"}, [[1, 2], 3],
]  # fmt: skip
KEY_VALUES = {"coupon": "SPRING", "limit": 2, "list": [3, 1, 2], "nothing": None}


def context(recipients=PROFILES):
    return context_for(42, KEY_VALUES, recipients, {"weather": {"temp": 21}})


def both_ways(source: str, values=None) -> tuple[str, str]:
    compiled = template._compile(source)
    assert compiled.problem is None
    assert compiled.fast is not None, "expected the template to compile"
    values = context() if values is None else values
    far = time.monotonic() + 60
    return compiled.fast(values, far), template._interpret(compiled.template, values, far)


@pytest.mark.parametrize(
    "source",
    [
        LIQUID_BODY,
        "Hello {{ profile.Identity }} from {{ profile.ProfileData.city }}!\n",
        '{"ids": [{% for p in profiles %}{{ p.Identity | json }}'
        "{% unless forloop.last %}, {% endunless %}{% endfor %}]}",
        # Every kind of value written out: numbers, booleans, nil, missing, nested.
        "{{ targetId }} {{ profile.ProfileData.ratio }} {{ profile.ProfileData.vip }} "
        "{{ key_values.nothing }}|{{ profile.ProfileData.missing }}|{{ profile.Nope.deeper }}|"
        "{{ profile.ProfileData.address.zip }}|{{ linked.weather.temp }}",
        # Sizes, firsts, lasts and indexes of lists, strings and mappings.
        "{{ profiles.size }} {{ profiles.first.Identity }} {{ profiles.last.Identity }} "
        "{{ profiles[1].Email }} {{ profiles[-1].Identity }} {{ profile.Email.size }} "
        "{{ profile.ProfileData.tags.size }} {{ profile.ProfileData['Last Score'] }} "
        "{{ key_values.list[0] }} {{ profile.ProfileData.tags.last }}",
        # Conditions of every operator, with blank, empty, nil and missing values.
        "{% for p in profiles %}{% if p.ProfileData.vip %}V{% elsif p.ProfileData.plan == 'free' %}"
        "F{% elsif p.ProfileData.plan != 'basic' and p.Email contains 'example' %}E"
        "{% else %}O{% endif %}{% if p.Push_token == blank %}b{% endif %}"
        "{% if p.ProfileData.tags == empty %}e{% endif %}"
        "{% if p.ProfileData.count > 1 %}>{% endif %}"
        "{% if p.ProfileData.count <= 0 or p.ProfileData.nope == nil %}<{% endif %}"
        "{% if p.ProfileData.tags contains 'b' %}c{% endif %}"
        "{% unless p.ProfileData.count >= 4 %}u{% else %}U{% endunless %}"
        "{% if p.ProfileData.nope %}!{% endif %};"
        "{% endfor %}",
        # The loop's helpers, nested loops, the inner one over a list of each member.
        "{% for p in profiles %}{{ forloop.index }}/{{ forloop.length }}:{{ forloop.index0 }}"
        "{{ forloop.rindex }}{{ forloop.rindex0 }}{{ forloop.first }}{{ forloop.last }}"
        "[{% for t in p.ProfileData.tags %}{{ p.Identity }}.{{ t }}{{ forloop.index }}"
        "{% endfor %}]{% else %}none{% endfor %}"
        "{% for t in profile.ProfileData.nothing_here %}x{% endfor %}",
        # Assignments: shadowed by the loop variable inside it, seen after it.
        "{% assign p = 'outer' %}{% assign n = 0 %}{% for p in profiles %}{{ p.Identity }}"
        "{% assign n = n | plus: 1 %}{% assign last = p.Email | upcase %}{% endfor %}"
        "{{ p }} {{ n }} {{ last }}",
        # Filters with arguments, keyword arguments and the environment.
        "{{ profile.ProfileData.name | split: ' ' | first | default: 'there' | append: '!' }} "
        "{{ profile.Email | downcase | replace: 'example', 'ex' | truncate: 8 }} "
        "{{ key_values.list | sort | join: '-' }} {{ profile | json }} "
        "{{ profile.ProfileData | json: 2 }} {{ profile.ProfileData.city | url_encode }} "
        "{{ key_values.coupon | escape }} {{ 5 | divided_by: 2 }} {{ 1.5 | times: 3 }} "
        "{{ profile.ProfileData.missing | json }} {{ profile.ProfileData.zzz | default: 3, "
        "allow_false: true }} {{ profiles | map: 'Identity' | uniq | join }} "
        "{{ 'now' | date: '%Y' | size }}",
        # The filters computed in place, on the values they take and on the others.
        "{% for v in key_values.values %}[{{ v | split: ',' | join: '+' }}|{{ v | split: ' ' "
        "| size }}|{{ v | default: 'd' | json }}|{{ v | first | json }}|{{ v | append: v }}|"
        "{{ v | prepend: '>' | append: 1 }}|{{ v | upcase | downcase | capitalize | strip }}|"
        "{{ v | json }}|{% if v == 'a,b' %}eq{% endif %}{% if v != 0 %}ne{% endif %}"
        "{% if v %}t{% endif %}{% if v == blank %}B{% endif %}{% if v != empty %}E{% endif %}]"
        "{% endfor %}{{ key_values.values | first | json }}",
        # Whitespace control, comments and blank blocks (rendered into nothing).
        "a  {%- comment %}x{% endcomment -%}  b {% # inline %}\n"
        "{% if true %}   {% assign hidden = 'h' %}   {% endif %}[{{ hidden }}]"
        "{% for p in profiles %}  \n  {% endfor %}|{{- '  c  ' -}}|",
    ],
)
def test_a_compiled_template_writes_what_python_liquid_writes(source):
    values = context()
    values["key_values"] = KEY_VALUES | {"values": VALUES}
    fast, interpreted = both_ways(source, values)

    assert fast == interpreted


def test_the_benchmarks_body_compiles_to_the_same_json_for_a_full_batch():
    recipients = [
        Recipient(identity=f"user-{n}", email=f"U{n}@x.io", properties={"name": f"N {n}"})
        for n in range(1000)
    ]

    fast, interpreted = both_ways(LIQUID_BODY, context(recipients))

    assert fast == interpreted
    assert template.render_json(LIQUID_BODY, context(recipients))[2] is None


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in (1..3) %}{{ i }}{% endfor %}",
        "{% for p in profiles limit: 1 %}{{ p.Identity }}{% endfor %}",
        "{% for p in profiles %}{% break %}{% endfor %}",
        "{% capture x %}{{ profile.Identity }}{% endcapture %}{{ x }}",
        "{% case profile.Identity %}{% when 'jo' %}J{% endcase %}",
        "{% cycle 'a', 'b' %}",
        "{{ profiles[profile.Identity] }}",
        "{% increment n %}",
        "{% for p in profiles %}{{ forloop.parentloop }}{% endfor %}",
    ],
)
def test_what_the_compiler_leaves_out_is_interpreted_as_before(source):
    assert compile_template(template.ENV.from_string(source)) is None
    assert template._compile(source).fast is None

    render(source, context())  # and renders, interpreted


def test_a_template_larger_than_people_write_is_interpreted():
    source = "{{ profile.Identity }}" + " " * 10_000

    assert template._compile(source).fast is None
    assert render(source, context()) == "jo" + " " * 10_000


@pytest.mark.parametrize(
    "source",
    [
        "{% for pair in profile.ProfileData %}{{ pair[0] }};{% endfor %}",  # a mapping
        "{{ profiles }}",  # a list written out
        "{{ profile.ProfileData.address }}",  # a mapping written out
        "{{ profile.ProfileData.tags[7] }}|{{ profiles.first.ProfileData.tags.first }}",
    ],
)
def test_a_compiled_render_off_its_path_is_rendered_by_python_liquid(source):
    compiled = template._compile(source)
    assert compiled.fast is not None
    with pytest.raises(Bail):
        compiled.fast(context(), time.monotonic() + 60)

    far = time.monotonic() + 60
    assert render(source, context()) == template._interpret(compiled.template, context(), far)


def test_an_error_in_a_compiled_template_keeps_its_message_and_line():
    source = "{% for p in profiles %}\n{{ p.ProfileData.count | divided_by: 0 }}\n{% endfor %}"
    assert template._compile(source).fast is not None

    with pytest.raises(TemplateError) as error:
        render(source, context())

    assert error.value.line == 2
    assert error.value.message == "divided_by: can't divide by 0"


def interpreted_error(source: str, values) -> TemplateError:
    compiled = template._compile(source)
    try:
        template._interpret(compiled.template, values, time.monotonic() + 60)
    except LiquidError as error:
        return template._template_error(error)
    raise AssertionError("python-liquid rendered it")


@pytest.mark.parametrize(
    ("source", "values", "message"),
    [
        (  # the loops of the whole render
            "{% for i in key_values.items %}{% endfor %}\n"
            "{% for i in key_values.items %}{% endfor %}",
            {"items": list(range(60_000))},
            "Loops run more than 100,000 times in all.",
        ),
        (  # a nest of loops, refused before it starts
            "x\n{% for a in key_values.items %}\n{% for b in key_values.items %}x{% endfor %}"
            "{% endfor %}",
            {"items": list(range(400))},
            "Loops run more than 100,000 times in all.",
        ),
        (  # the output, in characters
            "{{ key_values.s }}\n{% for i in key_values.items %}{{ key_values.s }}{% endfor %}",
            {"items": list(range(3000)), "s": "x" * 1000},
            "The body is larger than 1024 KiB.",
        ),
        (  # the output in UTF-8 bytes, as python-liquid counts: fewer characters, the same limit
            "{% for i in key_values.items %}\n{{ key_values.s }}{% endfor %}\n{{ key_values.s }}",
            {"items": list(range(349)), "s": "é" * 1500},
            "The body is larger than 1024 KiB.",
        ),
        (  # what assigned variables hold
            "".join(f"{{% assign v{n} = key_values.s %}}\n" for n in range(11)),
            {"s": "x" * 100_000},
            "Assigned variables hold more than 1024 KiB.",
        ),
    ],
)
def test_a_compiled_template_keeps_every_limit_with_python_liquids_message_and_line(
    source, values, message
):
    values = context() | {"key_values": values}
    assert template._compile(source).fast is not None

    with pytest.raises(TemplateError) as error:
        render(source, values)

    expected = interpreted_error(source, values)
    assert (error.value.message, error.value.line) == (message, expected.line)
    assert expected.message == message
    assert error.value.over_budget


def test_a_blank_block_writes_nothing_and_so_counts_nothing_of_the_output():
    values = context() | {"key_values": {"items": list(range(3000)), "s": " " * 1000}}
    source = "{% for i in key_values.items %}{% if true %}{{ key_values.s }}{% endif %}{% endfor %}"
    blank = "{% for i in key_values.items %}{% if true %}" + " " * 1000 + "{% endif %}{% endfor %}"

    with pytest.raises(TemplateError, match="larger than"):
        render(source, values)
    fast, interpreted = both_ways(blank, values)
    assert fast == interpreted == ""


def test_a_slow_compiled_template_stops_at_the_deadline_it_shares_with_python_liquid():
    # Within every size limit, far past the deadline: the compiled render gives up at the
    # deadline and python-liquid, given what is left of it, reports it.
    values = context() | {"key_values": {"items": list(range(90_000)), "s": "x" * 512 * 1024}}
    source = "{% for i in key_values.items %}{{ key_values.s | upcase | size }}{% endfor %}"
    assert template._compile(source).fast is not None

    started = time.monotonic()
    with pytest.raises(TemplateError) as error:
        render(source, values)

    assert time.monotonic() - started < budget.MAX_RENDER_SECONDS + 0.5
    assert error.value.message == (
        f"The template takes more than {budget.MAX_RENDER_SECONDS:g} s to render."
    )


def test_a_compiled_render_keeps_a_deadline_of_zero(monkeypatch):
    monkeypatch.setattr(budget, "MAX_RENDER_SECONDS", 0.0)

    with pytest.raises(TemplateError, match="takes more than 0 s"):
        render("{% for p in profiles %}{{ p.Identity }}{% endfor %}", context())
