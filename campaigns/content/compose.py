"""A campaign's bodies, built the same way for fan-out, live sends, test sends and preview.

- Profile variables: the seed's document (``payload.profile_variables_body``), stored as
  JSON and sent serialised.
- Custom: the Liquid template rendered with ``template.context_for`` over the batch
  (``profile`` is its first member) and the linked content (``linked``), stored as the
  rendered text and sent byte for byte, so retries and the log show exactly what was
  sent. With the JSON content type the text must parse as JSON.

A body that cannot be built raises ``ComposeError`` with the reason its delivery fails
with (``template_error``, ``linked_content_error``); fan-out records that delivery as
failed and goes on with the run. ``preview`` never raises: it reports problems instead.

Every render keeps the template's budget (``template``'s docstring). A template that goes
over it for ``OVER_BUDGET_STREAK`` batches in a row is not rendered again in that run:
its remaining batches fail at once, so a run does not spend the time budget per batch.
The preview waits ``PREVIEW_LINKED_SECONDS`` in all for linked content.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from campaigns.content import template
from campaigns.content.linked import LinkedContent, LinkedContentError, sources_of
from campaigns.content.payload import Recipient, profile_entry, profile_variables_body
from campaigns.models import BodyMode, Campaign, ContentType, Profile
from deliveries.engine import url_with_query
from deliveries.models import FailureReason

OVER_BUDGET_STREAK = 3
PREVIEW_LINKED_SECONDS = 4.0

CONTENT_TYPES = {
    ContentType.JSON: "application/json",
    ContentType.TEXT: "text/plain; charset=utf-8",
}


class ComposeError(Exception):
    """One body could not be built. ``reason`` is its delivery's failure reason; the
    message (with the template's line when known) is the attempt's failure detail.
    ``rendered`` is the text when it rendered but is not JSON (the preview shows it)."""

    def __init__(self, reason: str, message: str, line: int | None = None, rendered: str = ""):
        super().__init__(message)
        self.reason, self.message, self.line = reason, message, line
        self.rendered = rendered


def content_type_of(campaign: Campaign) -> str:
    return CONTENT_TYPES.get(campaign.content_type, CONTENT_TYPES[ContentType.JSON])


def query_string(pairs: object) -> str:
    """The campaign's ``[[key, value], ...]`` urlencoded; pairs without a key are left out."""
    if not isinstance(pairs, list):
        return ""
    kept = [
        (str(pair[0]), "" if pair[1] is None else str(pair[1]))
        for pair in pairs
        if isinstance(pair, list | tuple) and len(pair) == 2 and str(pair[0] or "").strip()
    ]
    return urlencode(kept)


def recipient_of(profile: Profile, event_properties: Mapping | None = None) -> Recipient:
    return Recipient(
        identity=profile.identity,
        email=profile.email,
        object_id=profile.object_id,
        push_token=profile.push_token,
        properties=profile.properties if isinstance(profile.properties, dict) else {},
        event_properties=event_properties,
    )


class Composer:
    """Builds the bodies of one run of ``campaign``, sharing its linked-content cache.

    ``content_type`` and ``query`` are what each delivery stores beside its body, so a
    retry sends the same request even after the campaign is edited.
    """

    def __init__(self, campaign: Campaign, linked_seconds: float | None = None):
        self.campaign = campaign
        self.over_budget: list[str] = []  # the messages of the latest batches in a row
        self.custom = campaign.body_mode == BodyMode.CUSTOM
        self.content_type = content_type_of(campaign)
        self.query = query_string(campaign.query_params)
        self.key_values = campaign.key_values if isinstance(campaign.key_values, dict) else {}
        self.sources_error: str | None = None
        sources = []
        if self.custom:
            try:
                sources = sources_of(campaign.linked_content)
            except LinkedContentError as error:
                self.sources_error = str(error)
        self.linked = LinkedContent(sources, campaign.pk, self.key_values, linked_seconds)

    def compose(self, recipients: list[Recipient]) -> dict[str, Any] | str:
        """The payload of one delivery to ``recipients``: the seed's document, or the
        custom body's rendered text. Raises ComposeError."""
        if not self.custom:
            campaign = self.campaign
            entries = [
                profile_entry(r, campaign.profile_fields, campaign.profile_properties)
                for r in recipients
            ]
            return profile_variables_body(campaign.pk, self.key_values, entries)
        if self.sources_error:
            raise ComposeError(FailureReason.LINKED_CONTENT_ERROR, self.sources_error)
        if len(self.over_budget) >= OVER_BUDGET_STREAK:
            raise ComposeError(
                FailureReason.TEMPLATE_ERROR,
                f"{self.over_budget[-1]} (not rendered: the template went over its budget "
                f"for {OVER_BUDGET_STREAK} batches in a row in this run)",
            )
        problems = template.check(self.campaign.custom_body or "")  # parsed once per source
        if problems:  # before asking linked content for a body that cannot render
            first = problems[0]
            message = f"line {first.line}: {first.message}" if first.line else first.message
            raise ComposeError(FailureReason.TEMPLATE_ERROR, message, first.line)
        try:
            linked = [self.linked.for_recipient(r) for r in recipients]
        except LinkedContentError as error:
            raise ComposeError(FailureReason.LINKED_CONTENT_ERROR, str(error)) from error
        return self.render(self.context(recipients, linked))

    def context(self, recipients: list[Recipient], linked: list[dict]) -> dict[str, Any]:
        """What the template sees: ``linked`` is the first member's, and every entry of
        ``profiles`` carries its own as ``linked`` (linked.py's docstring says why)."""
        context = template.context_for(
            self.campaign.pk, self.key_values, recipients, linked[0] if linked else {}
        )
        if self.linked.sources:
            for entry, values in zip(context["profiles"], linked, strict=True):
                entry["linked"] = values
        return context

    def render(self, context: Mapping[str, Any]) -> str:
        """The custom body rendered (and checked to be JSON for JSON campaigns)."""
        source = self.campaign.custom_body or ""
        try:
            if self.content_type == CONTENT_TYPES[ContentType.JSON]:
                text, _, problem = template.render_json(source, context)
                if problem:
                    raise ComposeError(FailureReason.TEMPLATE_ERROR, problem.message, None, text)
            else:
                text = template.render(source, context)
        except template.TemplateError as error:
            if error.over_budget:
                self.over_budget.append(str(error))
            raise ComposeError(FailureReason.TEMPLATE_ERROR, str(error), error.line) from error
        except RecursionError as error:  # json.loads of arrays nested thousands deep
            raise ComposeError(
                FailureReason.TEMPLATE_ERROR, "The rendered body is nested too deep to be JSON."
            ) from error
        self.over_budget.clear()
        return _storable(text)


def _storable(text: str) -> str:
    # PostgreSQL cannot store NUL, and a lone surrogate cannot be encoded to send: such a
    # body fails its delivery rather than the whole chunk's transaction.
    if "\x00" in text:
        raise ComposeError(FailureReason.TEMPLATE_ERROR, "The rendered body holds a NUL character.")
    try:
        text.encode()
    except UnicodeEncodeError as error:
        raise ComposeError(
            FailureReason.TEMPLATE_ERROR, f"The rendered body is not valid text ({error.reason})."
        ) from error
    return text


# --- Preview (the create-campaign page) -------------------------------------------------


@dataclass
class Preview:
    """What a payload to sample members looks like, and what is wrong with it."""

    body: str  # pretty-printed when JSON
    content_type: str  # the Content-Type header sent
    url: str  # the webhook's URL with the query parameters; "" without a webhook
    problems: list[template.Problem] = field(default_factory=list)


def preview(
    campaign: Campaign, profiles: list[Profile], event_properties: dict | None = None
) -> Preview:
    """The body one delivery to ``profiles`` (up to the batch size) would carry, with the
    problems found: Liquid syntax and unknown names with their lines, rendering errors,
    JSON that does not parse, linked content that fails (the body is rendered without
    it). Linked content is fetched for real. Never raises for what a user typed."""
    composer = Composer(campaign, linked_seconds=PREVIEW_LINKED_SECONDS)
    webhook = campaign.webhook if campaign.webhook_id else None
    url = url_with_query(webhook.url, composer.query) if webhook else ""
    size = max(campaign.batch_size or 1, 1)
    event_properties = event_properties if isinstance(event_properties, dict) else None
    recipients = [recipient_of(p, event_properties) for p in profiles[:size]]
    result = Preview("", composer.content_type, url)
    if not composer.custom:
        try:
            result.body = _pretty(composer.compose(recipients))
        except (ValueError, TypeError) as error:  # fields the form should not have allowed
            result.problems.append(template.Problem(None, str(error)))
        return result
    result.problems = template.check(campaign.custom_body or "")
    if result.problems:
        return result
    if composer.sources_error:
        result.problems.append(template.Problem(None, composer.sources_error))
    errors: list[str] = []
    linked = [composer.linked.for_recipient(r, errors) for r in recipients]
    result.problems += [template.Problem(None, message) for message in _unique(errors)]
    try:
        text = composer.render(composer.context(recipients, linked))
    except ComposeError as error:
        result.body = error.rendered
        # The message starts with its line for the attempt's detail; the page shows the
        # line beside it.
        message = error.message.removeprefix(f"line {error.line}: ")
        result.problems.append(template.Problem(error.line, message))
        return result
    json_body = composer.content_type == CONTENT_TYPES[ContentType.JSON]
    result.body = _pretty(json.loads(text)) if json_body else text
    return result


def _pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False)
    # A body may escape a lone surrogate ("\\ud800"): valid JSON, sent as written, but
    # its decoded text cannot be written into a page. Shown as the escape it came as.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))
