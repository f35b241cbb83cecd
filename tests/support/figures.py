"""Following a stats page's linked figures: each number that links somewhere, and the
count the linked log page shows."""

import html
import re

LINKED_FIGURE = re.compile(r'<a[^>]*href="([^"]+)"[^>]*>\s*([\d,]+)(?: failed)?\s*</a>')
COUNT = re.compile(r'data-testid="(?:log|attempt)-count">([\d,]+)<')


def linked_figures(page: str) -> list[tuple[str, int]]:
    """(URL, number) of every figure on ``page`` that opens the delivery or attempts log."""
    return [
        (html.unescape(url), int(number.replace(",", "")))
        for url, number in LINKED_FIGURE.findall(page)
        if "/admin/webhook-deliveries" in url
    ]


def shown_count(client, url: str) -> tuple[int, str]:
    """The count a log page at ``url`` shows, and the page."""
    response = client.get(url)
    assert response.status_code == 200, url
    page = response.content.decode()
    [number] = COUNT.findall(page)
    return int(number.replace(",", "")), page
