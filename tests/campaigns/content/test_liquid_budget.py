"""Liquid with a budget (issue 22): every render keeps bounds on work, time, output and
memory that the template cannot escape. Over budget is a problem with its line in the
editor and the preview, a refused publish or test, and a failed delivery with reason
template_error at send time; never a held worker, a swollen process or a 500.

Nothing here is timed: each test asserts that the budget stops the template, and says
which limit did. The figures are ``manage.py bench_liquid``'s."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.content import budget, compose, template
from campaigns.content.payload import Recipient
from campaigns.content.template import TemplateError, check, context_for, render
from campaigns.models import Campaign, Profile
from campaigns.sending import fanout
from deliveries.models import Delivery, DeliveryAttempt
from tests.factories import (
    make_campaign,
    make_profile,
    make_profile_event,
    make_profiles,
    make_webhook,
)

LOOPS_X100 = "{% for i in (1..99999) %}{% endfor %}\n" * 100
LOOPS_AT_MAX_SIZE = "{% for i in (1..99999) %}{% endfor %}\n" * (
    template.MAX_SOURCE_CHARS // len("{% for i in (1..99999) %}{% endfor %}\n")
)
# 512 KiB in ``s`` without a loop.
HALF_MIB = "{% assign s = 'xxxxxxxx' %}" + "{% assign s = s | append: s %}" * 16
HALF_MIB_OF_NEWLINES = HALF_MIB.replace("xxxxxxxx", "\n" * 8)


@pytest.fixture(autouse=True)
def deadline_only_where_tested(request, monkeypatch):
    """A busy machine may take longer than the 0.5 s deadline over work that another
    limit is meant to stop: outside the deadline's own tests, the deadline waits long
    enough that the limit under test is the one that speaks."""
    if "deadline" not in request.node.name:
        monkeypatch.setattr(budget, "MAX_RENDER_SECONDS", 60.0)


def context(profiles: int = 1, **linked):
    recipients = [
        Recipient(f"user-{n}", f"u{n}@example.com", properties={"city": f"City {n}"})
        for n in range(profiles)
    ]
    return context_for(7, {"coupon": "SPRING"}, recipients, linked)


def refused(source: str, ctx=None) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source, context() if ctx is None else ctx)
    assert caught.value.over_budget
    return caught.value


def shared_blob_context(profiles: int = 1000):
    """A full batch whose every profile shares one 256 KiB linked answer, as the run's
    cache shares a URL that does not depend on the profile."""
    blob = {"items": [{"id": n, "title": f"Item {n:06d}"} for n in range(8000)]}
    ctx = context(profiles, feed=blob)
    for entry in ctx["profiles"]:
        entry["linked"] = {"feed": blob}
    return ctx


# --- Work --------------------------------------------------------------------------------


def test_a_hundred_sibling_loops_are_stopped_by_the_iterations_of_the_whole_render():
    error = refused(LOOPS_X100)

    assert error.message == "Loops run more than 100,000 times in all."
    assert error.line == 2  # the second loop is the one that crosses the budget


def test_the_editor_reports_the_loop_budget_with_its_line():
    [problem] = check(LOOPS_X100)

    assert (problem.line, problem.message) == (2, "Loops run more than 100,000 times in all.")


def test_a_template_of_the_largest_size_the_form_takes_made_of_loops_is_refused():
    assert len(LOOPS_AT_MAX_SIZE) <= template.MAX_SOURCE_CHARS
    assert "Loops run more than" in check(LOOPS_AT_MAX_SIZE)[0].message
    assert "Loops run more than" in refused(LOOPS_AT_MAX_SIZE).message


def test_iterations_cut_short_by_break_count_only_as_far_as_they_ran():
    one_each = "{% for i in (1..100000) %}{% break %}{% endfor %}" * 200

    assert render(one_each + "ok", context()) == "ok"


def test_a_loop_of_the_whole_budget_still_renders():
    assert render("{% for i in (1..100000) %}{% endfor %}done", context()) == "done"


def test_nested_loops_are_refused_before_they_start_and_their_total_is_counted_too():
    square = "{% for i in (1..1000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}"
    # 300 + 300 * 300 iterations: the outer loop's count too.
    just_under = "{% for i in (1..300) %}{% for j in (1..300) %}{% endfor %}{% endfor %}"

    assert "Loops run more than" in refused(square).message
    assert render(just_under, context()) == ""
    assert "Loops run more than" in refused(just_under * 2).message


def test_loops_over_the_batch_count_with_the_rest():
    # One sample member passes the editor's trial; a batch of 1,000 goes over at send time.
    source = "{% for p in profiles %}{% for i in (1..500) %}{% endfor %}{% endfor %}"

    assert check(source) == []
    assert "Loops run more than" in refused(source, context(1000)).message


def test_tags_nested_deeper_than_python_liquid_allows_are_a_problem_with_their_line():
    deep = "{% if true %}" * 31 + "x" + "{% endif %}" * 31

    [problem] = check(deep)

    assert problem.message == "Tags are nested more than 30 deep." and problem.line == 1
    with pytest.raises(TemplateError, match="nested more than 30 deep"):
        render(deep, context())


# --- Time ----------------------------------------------------------------------------------


def test_a_render_that_would_take_too_long_is_stopped_by_its_deadline():
    # 100,000 upper-casings of 512 KiB: within every size limit, and far past the deadline.
    source = HALF_MIB + "{% for i in (1..100000) %}{{ s | upcase | size }}{% endfor %}"

    error = refused(source)

    assert (
        error.message == f"The template takes more than {budget.MAX_RENDER_SECONDS:g} s to render."
    )
    assert check(source)[0].message == error.message


def test_the_deadline_is_kept_by_each_render_on_its_own(monkeypatch):
    # Each render gets its own deadline: a context made long ago has not run out.
    monkeypatch.setattr(budget, "MAX_RENDER_SECONDS", 0.0)
    with pytest.raises(TemplateError, match="takes more than 0 s"):
        render("{% for i in (1..2) %}{% endfor %}", context())
    monkeypatch.undo()
    assert render("{% for i in (1..2) %}{{ i }}{% endfor %}", context()) == "12"


# --- Memory: refused before it is spent ---------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ (1..10000000) | join: ',' | size }}",
        "{% if (1..1000000000) contains 'x' %}yes{% endif %}",
        "{% for i in (1..1000000000) offset: 999999990 %}{{ i }}{% endfor %}",
        "{% assign r = (1..10000000) %}{{ r.size }}",
        "{{ (1..99999999999999999999999) | size }}",
        "{% for i in (1..5) %}{% assign n = i | times: 10000000 %}{{ (1..n) | size }}{% endfor %}",
    ],
)
def test_a_range_longer_than_the_limit_is_refused_when_it_is_made(source):
    error = refused(source)

    assert error.message == "A range can hold at most 100,000 numbers."
    assert error.line == 1 and error.column is not None


def test_json_with_a_huge_indent_is_refused_and_a_small_one_works():
    error = refused("{{ profiles | json: 30000000 | size }}")

    assert error.message == "The json filter indents by at most 8 spaces."
    assert (error.line, error.column) == (1, 15)  # at the filter
    assert render("{{ key_values | json: 2 }}", context()) == '{\n  "coupon": "SPRING"\n}'


def test_json_of_a_batch_too_big_for_a_body_stops_as_soon_as_it_is_over():
    error = refused("{{ profiles | json | size }}", shared_blob_context())

    assert error.message == "The JSON is over 1,024 KiB."


def test_doubling_a_string_by_assign_or_capture_is_stopped():
    assign = "{% assign s = 'xx' %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}"
    capture = (
        "{% capture s %}xx{% endcapture %}"
        "{% for i in (1..64) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}"
    )

    assert refused(assign).message == "Assigned variables hold more than 1024 KiB."
    assert refused(capture).message in {
        "Assigned variables hold more than 1024 KiB.",
        "The body is larger than 1024 KiB.",
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (HALF_MIB + "{{ s | replace: '', s | size }}", "The replacement would make a text over"),
        (HALF_MIB + "{{ s | split: '' | size }}", "The split would make more than 100,000 items"),
        ("{{ (1..100000) | join: key_values.coupon | size }}", "The joined text is over"),
        (
            "{% assign l = profiles %}{% for i in (1..64) %}{% assign l = l | concat: l %}"
            "{% endfor %}",
            "The concatenation would make more than 100,000 items",
        ),
        (
            "{% assign x = 7 %}{% for i in (1..64) %}{% assign x = x | times: x %}{% endfor %}",
            "Numbers are limited to 1024 bits",
        ),
        (HALF_MIB_OF_NEWLINES + "{{ s | newline_to_br | size }}", "A filter's result is over"),
    ],
)
def test_filters_that_would_make_a_huge_value_are_refused(source, message):
    error = refused(source)

    assert error.message.startswith(message)


@pytest.mark.parametrize(
    "source",
    [
        "{{ profiles }}",
        "{% echo profiles %}",
        "{{ profiles | upcase | size }}",
        "{{ profiles | sort_natural | size }}",
        "{{ profiles | map: 'linked' | join: ',' | size }}",
        "{% cycle profiles, profiles %}",
    ],
)
def test_a_batch_too_big_to_write_as_text_is_not_turned_into_text(source):
    # Python would build gigabytes of text here (a thousand copies of the shared answer)
    # before the output limit could see it.
    error = refused(source, shared_blob_context())

    assert any(
        words in error.message for words in ("too large", "larger than 1024", "over 1,024 KiB")
    )


def test_uniq_keeps_python_liquids_answers():
    source = (
        "{{ 'b,a,b,c,a' | split: ',' | uniq | join: ',' }}|"
        "{{ profiles | uniq: 'Identity' | size }}|{{ (1..100000) | uniq | size }}"
    )

    assert render(source, context(3)) == "b,a,c|3|100000"


def test_a_value_nested_thousands_deep_is_a_template_error():
    nested: list = []
    for _ in range(5000):
        nested = [nested]

    with pytest.raises(TemplateError):
        render("{{ linked.deep | json }}", context(deep=nested))


def test_an_ordinary_body_for_a_full_batch_renders_as_before():
    source = (
        '{"campaign": {{ targetId }}, "users": [{% for p in profiles %}'
        '{"email": {{ p.Email | json }}, "city": {{ p.ProfileData.city | json }}}'
        "{% unless forloop.last %},{% endunless %}{% endfor %}]}"
    )

    text, parsed, problem = template.render_json(source, context(1000))

    assert problem is None and len(parsed["users"]) == 1000
    assert parsed["users"][999] == {"email": "u999@example.com", "city": "City 999"}


# --- The pages: the editor, the preview, the test send and publish -------------------------


def what(**fields) -> dict:
    return {
        "content_type": "json",
        "body_mode": "custom",
        "profile_fields": ["Email"],
        "properties_scope": "all",
        "batch_size": "10",
        "query_key": [""],
        "query_value": [""],
        "kv_key": [""],
        "kv_value": [""],
        "linked_name": [""],
        "linked_url": [""],
        "custom_body": "{}",
    } | fields


@pytest.fixture
def draft(db):
    return make_campaign(make_webhook(name="CRM sync"), name="Draft", batch_size=10)


ABUSES = [
    pytest.param(LOOPS_X100, "Line 2: Loops run more than 100,000 times in all.", id="loops"),
    pytest.param(
        "{{ (1..10000000) | join: ',' | size }}",
        "Line 1: A range can hold at most 100,000 numbers.",
        id="range",
    ),
    pytest.param(
        "{{ profiles | json: 30000000 | size }}",
        "Line 1: The json filter indents by at most 8 spaces.",
        id="json-indent",
    ),
    pytest.param(
        HALF_MIB + "{% for i in (1..100000) %}{{ s | upcase | size }}{% endfor %}",
        "Line 1: The template takes more than",
        id="deadline",
    ),
]


@pytest.mark.parametrize(("body", "message"), ABUSES)
def test_the_what_step_refuses_an_over_budget_body_with_its_line(
    admin_client, draft, body, message
):
    response = admin_client.post(f"/admin/campaigns/{draft.pk}/edit/what", what(custom_body=body))

    assert response.status_code == 422
    assert message in response.content.decode()
    draft.refresh_from_db()
    assert draft.custom_body == ""


@pytest.mark.parametrize(("body", "message"), ABUSES)
def test_the_body_preview_shows_the_budget_problem_with_its_line(
    admin_client, draft, body, message
):
    response = admin_client.post(
        f"/admin/campaigns/{draft.pk}/body-preview", what(custom_body=body)
    )

    assert response.status_code == 200
    assert message in response.content.decode()


def test_the_test_send_is_refused_for_an_over_budget_body(admin_client, draft):
    response = admin_client.post(
        f"/admin/campaigns/{draft.pk}/test-send", what(custom_body=LOOPS_X100)
    )

    assert response.status_code == 422
    assert "Loops run more than 100,000 times in all." in response.content.decode()


def test_publishing_an_over_budget_body_is_refused(admin_client, draft):
    make_profile(identity="ann", email="ann@example.com")
    Campaign.objects.filter(pk=draft.pk).update(
        body_mode="custom",
        custom_body=LOOPS_X100,
        rule={"category": "user_properties", "profile": [{"property": "plan", "op": "exists"}]},
    )

    response = admin_client.post(f"/admin/campaigns/{draft.pk}/publish", follow=True)

    assert "Loops run more than 100,000 times in all." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


class _Hanging(BaseHTTPRequestHandler):
    """Answers nothing for a long while, and counts who asked."""

    asked: list[str] = []

    def do_GET(self):
        self.asked.append(self.path)
        threading.Event().wait(5)

    def log_message(self, *args):
        pass


@pytest.fixture
def hanging_url():
    _Hanging.asked = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_body_preview_of_an_invalid_form_fetches_no_more_than_five_sources(
    admin_client, draft, hanging_url
):
    names = [f"s{n}" for n in range(20)]
    fields = what(
        custom_body="{{ linked }}",
        linked_name=names,
        linked_url=[f"{hanging_url}/{name}" for name in names],
    )

    response = admin_client.post(f"/admin/campaigns/{draft.pk}/body-preview", fields)

    assert response.status_code == 200
    assert "at most 5 linked content sources" in response.content.decode()
    assert _Hanging.asked == []


def test_the_preview_gives_linked_content_a_few_seconds_in_all(db, hanging_url, monkeypatch):
    monkeypatch.setattr(compose, "PREVIEW_LINKED_SECONDS", 0.3)
    campaign = Campaign.objects.create(
        name="Draft",
        body_mode="custom",
        content_type="text",
        custom_body="{{ linked.a }}",
        linked_content=[{"name": n, "url": f"{hanging_url}/{n}"} for n in "abcde"],
    )

    shown = compose.preview(campaign, [Profile(identity="ann")])

    assert len(_Hanging.asked) == 1  # the first waited out the time; the rest never asked
    messages = [p.message for p in shown.problems]
    assert len(messages) == 5
    assert sum("not fetched: the preview waits 0.3 s in all" in m for m in messages) == 4


# --- Send time: a failed delivery with template_error ---------------------------------------


@pytest.fixture
def audience(transactional_db):
    """20 members who launched the app, committed (fan-out reads them on a second
    connection on PostgreSQL)."""
    yesterday = timezone.now() - timedelta(days=1)
    for profile in make_profiles(20):
        make_profile_event(profile, "App Launched", occurred_at=yesterday)


def sending(body: str, batch_size: int = 4) -> Campaign:
    return make_campaign(
        name="Over budget",
        batch_size=batch_size,
        body_mode="custom",
        content_type="text",
        custom_body=body,
        status="running",
    )


def test_an_over_budget_template_fails_every_batch_with_template_error_and_the_run_completes(
    audience,
):
    campaign = sending(LOOPS_X100)

    run = fanout.run_occurrence(campaign.pk, "manual-1")

    assert (run.status, run.targets, run.payloads) == ("completed", 20, 5)
    deliveries = Delivery.objects.filter(campaign=campaign)
    assert {(d.status, d.last_failure_reason) for d in deliveries} == {("failed", "template_error")}
    details = set(DeliveryAttempt.objects.values_list("failure_detail", flat=True))
    assert details == {"line 2: Loops run more than 100,000 times in all."}


def test_a_run_stops_rendering_a_template_that_goes_over_budget_batch_after_batch(audience):
    # Within budget for the editor's one sample member, over it for each batch of four.
    campaign = sending("{% for p in profiles %}{% for i in (1..40000) %}{% endfor %}{% endfor %}")

    run = fanout.run_occurrence(campaign.pk, "manual-1")

    assert (run.status, run.payloads) == ("completed", 5)
    details = list(
        DeliveryAttempt.objects.order_by("delivery_id").values_list("failure_detail", flat=True)
    )
    rendered, given_up = (
        details[: compose.OVER_BUDGET_STREAK],
        details[compose.OVER_BUDGET_STREAK :],
    )
    assert all("Loops run more than 100,000 times in all." in d for d in details)
    assert not any("not rendered" in d for d in rendered)
    assert given_up and all("not rendered" in d for d in given_up)
    reasons = set(Delivery.objects.filter(campaign=campaign).values_list("last_failure_reason"))
    assert reasons == {("template_error",)}


def test_the_benchmark_prints_a_line_per_template_and_the_worst_figures():
    out = StringIO()

    call_command("bench_liquid", "range_join", "normal_body", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[1].startswith("range_join") and "refused at check" in lines[1]
    assert lines[2].startswith("normal_body") and "rendered 51,807 bytes" in lines[2]
    assert lines[3].startswith("worst_seconds=")
