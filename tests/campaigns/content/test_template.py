"""Liquid custom bodies: editor checks with lines, render failures, limits, JSON."""

import json

import pytest

from campaigns.content import template
from campaigns.content.payload import PROFILE_FIELDS, Recipient
from campaigns.content.template import (
    Problem,
    TemplateError,
    check,
    context_for,
    render,
    render_json,
    variables_for,
)

JO = Recipient(
    identity="jo",
    email="jo@example.com",
    properties={"name": 'Jo "the Bold"\nSmith\\', "Last Score": 308, "count": 0},
    event_properties={"Score": 1200},
)
AL = Recipient(identity="al", email="al@example.com", properties={"count": 4})


def context(*recipients, linked=None, key_values=None):
    return context_for(42, key_values or {"PromoCode": "MT50"}, recipients or [JO], linked or {})


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("a\nb\n{{ profile.Email | }}\n", 3),
        ('{\n  {% if profile.Email %}\n  "a": 1\n}', 2),  # never closed
        ("{% for p in profiles %}\n{% if p %}\n{% endfor %}", 3),
        ("x\n\n{% frobnicate %}", 3),
        ("x\n{% liquid\n  assign a = 1\n  echo a |\n%}", 4),
        ("ok\n{% include 'other' %}", 2),
        ("ok\n{{ 'unterminated }}", 2),
    ],
)
def test_syntax_error_is_reported_on_its_line(source, line):
    [problem] = check(source)

    assert problem.line == line
    assert problem.message


def test_good_template_has_no_problems():
    source = (
        '{"to": {{ profile.Email | json }}, "code": "{{ key_values.PromoCode }}",\n'
        ' "ids": [{% for p in profiles %}{{ p.Identity | json }}{% unless forloop.last %},'
        "{% endunless %}{% endfor %}]}"
    )

    assert check(source) == []


def test_unknown_variables_and_filters_are_reported_with_their_lines():
    source = "{{ profil.Email }}\n{{ profile.Email | upcse }}\n{% assign x = 1 %}{{ x }}"

    assert check(source) == [
        Problem(
            1,
            "Unknown variable 'profil'. Use one of: profile, profiles, key_values, targetId, "
            "linked.",
            4,
        ),
        Problem(2, "Unknown filter 'upcse'.", 20),
    ]


def test_unknown_variable_fails_the_render_with_its_line():
    with pytest.raises(TemplateError) as caught:
        render("hello\n{{ custmer.name }}", context())

    assert caught.value.line == 2
    assert "custmer" in caught.value.message


def test_missing_profile_property_renders_empty_and_json_null():
    out = render(
        "[{{ profile.ProfileData.city }}] {{ profile.ProfileData.city | json }}", context()
    )

    assert out == "[] null"


def test_render_failure_is_a_template_error_with_its_line():
    source = "total:\n{{ 100 | divided_by: profile.ProfileData.count }}"

    with pytest.raises(TemplateError) as caught:
        render(source, context(JO))

    assert caught.value.line == 2
    assert "divide" in caught.value.message
    # The same template renders for a profile it does not trip on.
    assert render(source, context(AL)) == "total:\n25"


def test_unknown_filter_fails_the_render():
    with pytest.raises(TemplateError, match="unknown filter 'nope'"):
        render("{{ targetId | nope }}", context())


def test_output_is_capped_at_one_mebibyte():
    big = {"blob": "x" * 2000}
    source = "{% for i in (1..1000) %}{{ key_values.blob }}{% endfor %}"

    with pytest.raises(TemplateError, match="larger than 1024 KiB"):
        render(source, context(key_values=big))
    assert len(render("{{ key_values.blob }}", context(key_values=big))) == 2000


def test_nested_loops_are_capped():
    source = "{% for i in (1..1000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}"

    with pytest.raises(TemplateError, match="Loops run more than"):
        render(source, context())


def test_doubling_an_assigned_string_is_capped():
    source = (
        "{% assign s = 'xxxxxxxx' %}"
        "{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}"
    )

    with pytest.raises(TemplateError, match="Assigned variables hold more than"):
        render(source, context())


def test_overlong_source_is_refused():
    source = "x" * (template.MAX_SOURCE_CHARS + 1)

    assert check(source)[0].message.startswith("The template is over")
    with pytest.raises(TemplateError):
        render(source, context())


def test_render_json_parses_a_valid_body():
    text, parsed, problem = render_json('{"id": {{ targetId }}}', context())

    assert (text, parsed, problem) == ('{"id": 42}', {"id": 42}, None)


def test_render_json_says_where_the_body_stops_being_json():
    source = '{\n  "id": {{ targetId }},\n  "city": {{ profile.ProfileData.city }}\n}'

    text, parsed, problem = render_json(source, context())

    assert text == '{\n  "id": 42,\n  "city": \n}'
    assert parsed is None
    # The parser trips on the "}" after the empty value.
    assert problem == Problem(
        4,
        "The rendered body is not valid JSON: Expecting value "
        "(line 4, column 1 of the rendered body).",
        1,
    )


def test_render_json_refuses_nan():
    _, parsed, problem = render_json('{"a": NaN}', context())

    assert parsed is None
    assert problem.message == "The rendered body is not valid JSON: NaN is not allowed."


def test_json_filter_escapes_quotes_backslashes_and_newlines():
    source = '{"name": {{ profile.ProfileData.name | json }}, "all": {{ profile | json }}}'

    _, parsed, problem = render_json(source, context())

    assert problem is None
    assert parsed["name"] == 'Jo "the Bold"\nSmith\\'
    assert parsed["all"]["ProfileData"]["Last Score"] == 308


def test_linked_content_is_available_by_name():
    out = render(
        "It is {{ linked.weather.temp }}°C in {{ linked.weather.city | default: 'town' }}.",
        context(linked={"weather": {"temp": 21}}),
    )

    assert out == "It is 21°C in town."


def test_context_has_every_field_and_the_first_profile():
    ctx = context(JO, AL)

    assert list(ctx["profile"]) == PROFILE_FIELDS
    assert ctx["profile"]["Identity"] == "jo"
    assert [p["Identity"] for p in ctx["profiles"]] == ["jo", "al"]
    assert ctx["profile"]["Event_properties"] == {"Score": 1200}
    assert ctx["profiles"][1]["Event_properties"] == {}
    assert (ctx["targetId"], ctx["key_values"], ctx["linked"]) == (42, {"PromoCode": "MT50"}, {})


def test_context_without_recipients_has_an_empty_profile():
    assert render("[{{ profile.Email }}]", context_for(1, {}, [], {})) == "[]"


def test_suggested_variables_can_be_pasted_into_a_template():
    paths = variables_for(["Last Score", "name"], ["PromoCode"], ["weather"])

    assert "profile.Email" in paths
    assert 'profile.ProfileData["Last Score"]' in paths
    assert "profile.ProfileData.name" in paths
    assert "key_values.PromoCode" in paths
    assert "linked.weather" in paths
    source = " ".join(f"{{{{ {path} }}}}" for path in paths)
    assert check(source) == []
    rendered = render(source, context(linked={"weather": "sunny"}))
    assert "308" in rendered
    assert "sunny" in rendered


def test_output_is_not_html_escaped():
    assert render("{{ key_values.PromoCode }}", context(key_values={"PromoCode": "<b>&'"})) == (
        "<b>&'"
    )


def test_error_message_names_its_line():
    assert str(TemplateError("boom", 3)) == "line 3: boom"
    assert str(TemplateError("boom")) == "boom"
    assert json.dumps({"reason": str(TemplateError("x", 1))})
