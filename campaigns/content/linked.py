"""Linked content: data from outside a campaign, fetched at send time, as ``linked.<name>``.

A campaign declares sources, ``[{"name": "weather", "url": "https://api.example/now?
city={{ profile.ProfileData.city | url_encode }}"}]``. For each profile of a payload, each
source's URL is rendered with that profile's variables (what a body sees, without
``linked``), then fetched with GET through the sender's outbound guard
(``deliveries.engine.fetch``: refused addresses are never connected to, no redirects),
within ``TIMEOUT`` seconds and ``MAX_BYTES``. A JSON answer (by its content type) is
parsed; anything else is text. Characters a URL cannot hold (a space in a city name) are
percent-encoded; use ``| url_encode`` for values holding ``&`` or ``=``.

Batches: every profile gets its own linked content, ``profiles[i].linked.<name>``, and
``linked.<name>`` is the first profile's (the one ``profile`` is), so a batch of one reads
naturally and a loop over a batch reads each member's.

A run shares one ``LinkedContent``: a cache per distinct URL (least recently used out,
within ``CACHE_ENTRIES`` and ``CACHE_BYTES``), failures included, so a URL that does not
depend on the profile is fetched once per run, and a source that is down is not asked
again for every profile. A source whose fetches fail ``FAILURE_STREAK`` times in a row
is given up for the rest of the run: its deliveries fail at once instead of each
waiting out the timeout. Every failure is ``LinkedContentError``, naming the source; the
delivery fails with ``linked_content_error``.
"""

import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from requests.utils import requote_uri

from campaigns.content import template
from campaigns.content.payload import Recipient
from deliveries.engine import FetchFailed, fetch

TIMEOUT = 3.0  # seed 002's platform waits three seconds for a webhook; the same here
MAX_BYTES = 256 * 1024
MAX_SOURCES = 5  # the form's limit, kept here too: a draft previewed as typed skips the form
CACHE_ENTRIES = 1000
CACHE_BYTES = 8 * 1024 * 1024  # of answers as received; parsed, they take a few times more
FAILURE_STREAK = 20


class LinkedContentError(Exception):
    """A source could not be read for a profile; the message names it and says why."""


@dataclass(frozen=True)
class Source:
    name: str
    url: str  # a Liquid template


def sources_of(declared: object) -> list[Source]:
    """The campaign's ``linked_content`` as sources. Raises LinkedContentError for an
    entry without a name or URL, or a name used twice."""
    if not declared:
        return []
    if not isinstance(declared, list):
        raise LinkedContentError("Linked content must be a list of sources.")
    if len(declared) > MAX_SOURCES:
        raise LinkedContentError(
            f"A campaign can have at most {MAX_SOURCES} linked content sources; none is fetched."
        )
    sources: list[Source] = []
    for number, entry in enumerate(declared, 1):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        url = entry.get("url") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            raise LinkedContentError(f"Linked content source {number} has no name.")
        if not isinstance(url, str) or not url.strip():
            raise LinkedContentError(f"Linked content “{name}” has no URL.")
        if any(source.name == name.strip() for source in sources):
            raise LinkedContentError(f"Two linked content sources are named “{name}”.")
        sources.append(Source(name.strip(), url.strip()))
    return sources


class LinkedContent:
    """The linked content of one run (or one preview): sources, cache and failure streaks."""

    def __init__(
        self,
        sources: list[Source],
        campaign_id: int,
        key_values: Mapping[str, Any],
        seconds: float | None = None,
    ):
        self.sources = sources
        self.campaign_id = campaign_id
        self.key_values = key_values
        # A page waiting on linked content (the preview) gives it ``seconds`` in all, not
        # TIMEOUT for each source in turn.
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.fetches = 0  # requests actually made (the rest came from the cache)
        self._cache: OrderedDict[str, tuple[bool, Any, int]] = OrderedDict()
        self._cached_bytes = 0
        self._streaks: dict[str, int] = {}

    def for_recipient(
        self, recipient: Recipient, errors: list[str] | None = None
    ) -> dict[str, Any]:
        """``{name: value}`` of every source for ``recipient``. Raises LinkedContentError
        for the first source that fails, or, given ``errors``, appends its message there
        and leaves the source out (the preview shows the rest)."""
        if not self.sources:
            return {}
        context = template.context_for(self.campaign_id, self.key_values, [recipient], {})
        values = {}
        for source in self.sources:
            try:
                values[source.name] = self._value(source, context)
            except LinkedContentError as error:
                if errors is None:
                    raise
                errors.append(str(error))
        return values

    def _value(self, source: Source, context: Mapping[str, Any]) -> Any:
        if self._streaks.get(source.name, 0) >= FAILURE_STREAK:
            raise LinkedContentError(
                f"Linked content “{source.name}” failed {FAILURE_STREAK} times in a row in "
                "this run, and is not asked again until the next one."
            )
        try:
            url = requote_uri(template.render(source.url, context).strip())
        except template.TemplateError as error:
            raise LinkedContentError(
                f"Linked content “{source.name}”: its URL template failed: {error}"
            ) from error
        ok, value = self._get(url, source.name)
        if not ok:
            raise LinkedContentError(f"Linked content “{source.name}” ({url}): {value}")
        return value

    def _get(self, url: str, name: str) -> tuple[bool, Any]:
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached[0], cached[1]
        timeout = TIMEOUT
        if self.deadline is not None:
            timeout = min(TIMEOUT, self.deadline - time.monotonic())
            if timeout <= 0.05:
                # Not cached: the next page asks again.
                return False, f"not fetched: the preview waits {self.seconds:g} s in all"
        self.fetches += 1
        try:
            fetched = fetch(url, timeout, MAX_BYTES)
            entry = (True, _value_of(fetched.content_type, fetched.body), len(fetched.body))
            self._streaks[name] = 0
        except (FetchFailed, ValueError) as error:
            entry = (False, str(error), 0)
            self._streaks[name] = self._streaks.get(name, 0) + 1
        self._remember(url, entry)
        return entry[0], entry[1]

    def _remember(self, url: str, entry: tuple[bool, Any, int]) -> None:
        self._cache[url] = entry
        self._cached_bytes += entry[2] + len(url)
        while len(self._cache) > CACHE_ENTRIES or self._cached_bytes > CACHE_BYTES:
            old_url, old = self._cache.popitem(last=False)
            self._cached_bytes -= old[2] + len(old_url)


def _value_of(content_type: str, body: bytes) -> Any:
    """A JSON answer parsed, anything else as text. Raises ValueError for JSON that
    does not parse."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as error:
            raise ValueError(f"the answer is not valid JSON ({error})") from None
    return body.decode(errors="replace")
