"""The create page's preview: the body for sample members, the request's content type and
URL, and every problem with its line; never an exception for what a user typed."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaigns.content.compose import preview
from campaigns.models import Campaign
from tests.factories import make_campaign, make_profiles, make_webhook


@pytest.fixture
def members(db):
    return make_profiles(
        3,
        identity="user-{}",
        email=lambda n: f"u{n}@example.com",
        properties=lambda n: {"city": f"City {n}"},
    )


def draft(webhook=None, **fields) -> Campaign:
    defaults = {"name": "Draft", "batch_size": 2, "key_values": {"coupon": "SPRING"}}
    return make_campaign(webhook, **defaults | fields)


def test_profile_variables_are_previewed_as_the_seeds_payload(members):
    campaign = draft(
        webhook=make_webhook(url="https://hooks.example.com/in?token=abc"),
        profile_fields=["Identity", "ProfileData", "Event_properties"],
        query_params=[["utm", "spring sale"]],
    )

    shown = preview(campaign, members, {"sku": "TENT-2"})

    assert shown.problems == []
    assert shown.content_type == "application/json"
    assert shown.url == "https://hooks.example.com/in?token=abc&utm=spring+sale"
    event = {"sku": "TENT-2"}
    assert json.loads(shown.body) == {
        "targetId": campaign.pk,
        "key_values": {"coupon": "SPRING"},
        "profiles": [  # the batch size: two of the three samples
            {"Identity": "user-1", "ProfileData": {"city": "City 1"}, "Event_properties": event},
            {"Identity": "user-2", "ProfileData": {"city": "City 2"}, "Event_properties": event},
        ],
    }
    assert shown.body.startswith('{\n  "targetId"')  # pretty-printed


def test_a_custom_json_body_is_rendered_and_pretty_printed(members):
    campaign = draft(
        body_mode="custom",
        custom_body='{"to": {{ profile.Email | json }}, "n": {{ profiles | size }}}',
    )

    shown = preview(campaign, members)

    assert shown.problems == [] and shown.url == ""
    assert shown.body == '{\n  "to": "u1@example.com",\n  "n": 2\n}'


def test_a_plain_text_body_is_shown_as_rendered(members):
    campaign = draft(
        body_mode="custom", content_type="text", custom_body="Hi {{ profile.ProfileData.city }}!"
    )

    shown = preview(campaign, members)

    assert (shown.body, shown.content_type, shown.problems) == (
        "Hi City 1!",
        "text/plain; charset=utf-8",
        [],
    )


def test_syntax_errors_and_unknown_names_come_with_their_lines(members):
    broken = preview(draft(body_mode="custom", custom_body='{"a": 1,\n "b": {{ x | }}}'), members)
    unknown = preview(draft(body_mode="custom", custom_body="{}\n{{ profil.Email }}"), members)

    assert broken.body == "" and [p.line for p in broken.problems] == [2]
    assert unknown.body == "" and unknown.problems[0].line == 2
    assert "Unknown variable 'profil'" in unknown.problems[0].message


def test_a_body_that_renders_to_broken_json_shows_the_text_and_why(members):
    campaign = draft(body_mode="custom", custom_body='{"name": "{{ profile.Identity }}",}')

    shown = preview(campaign, members)

    assert shown.body == '{"name": "user-1",}'
    [problem] = shown.problems
    assert "not valid JSON" in problem.message


def test_a_rendering_error_is_a_problem(members):
    campaign = draft(body_mode="custom", custom_body="{}\n{{ 1 | divided_by: 0 }}")

    [problem] = preview(campaign, members).problems

    assert problem.line == 2 and "divide" in problem.message.lower()


class _Weather(BaseHTTPRequestHandler):
    def do_GET(self):
        code, body = (200, b'{"temp": 21}') if self.path == "/ok" else (503, b"")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def weather_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Weather)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_linked_content_is_fetched_and_a_failing_source_is_a_problem(members, weather_url):
    campaign = draft(
        body_mode="custom",
        content_type="text",
        custom_body="{{ linked.now.temp }}° / {{ linked.down }}",
        linked_content=[
            {"name": "now", "url": weather_url + "/ok"},
            {"name": "down", "url": weather_url + "/down"},
        ],
    )

    shown = preview(campaign, members)

    assert shown.body == "21° / "
    [problem] = shown.problems
    assert "“down”" in problem.message and "HTTP 503" in problem.message


@pytest.mark.parametrize(
    "fields",
    [
        {"query_params": "a=1", "key_values": ["x"], "batch_size": 0},
        {"body_mode": "custom", "custom_body": "", "linked_content": "nope"},
        {"body_mode": "custom", "custom_body": "{{ linked.x }}", "linked_content": [{"u": 1}]},
        {"body_mode": "custom", "custom_body": "[" * 3000 + "]" * 3000},
        {"body_mode": "custom", "content_type": "text", "custom_body": "{{ '\x00' }}"},
        {"profile_fields": ["Nope"]},
        {"profile_fields": None},
    ],
)
def test_bad_input_never_raises(members, fields):
    campaign = draft()
    for name, value in fields.items():
        setattr(campaign, name, value)

    shown = preview(campaign, members, event_properties=["not", "a", "dict"])

    assert isinstance(shown.body, str) and isinstance(shown.problems, list)
