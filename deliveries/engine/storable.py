"""Whatever a receiver answers, in a form the database stores and the pages show safely.

PostgreSQL's text and jsonb refuse the NUL character and jsonb refuses lone surrogates;
a receiver may send both, bytes that are not UTF-8, and any number of headers. None of
that may stop an attempt from being recorded.
"""

import base64
import contextlib

MAX_RESPONSE_BODY = 64 * 1024
# Response headers kept per attempt; beyond either cap the rest are dropped and the
# attempt says so, as it does for a long body.
MAX_RESPONSE_HEADERS = 100
MAX_RESPONSE_HEADER_BYTES = 16 * 1024
MAX_TEXT = 500


def clean_text(text: str) -> str:
    """``text`` without what PostgreSQL cannot store: NUL becomes U+FFFD (the replacement
    character), and so does a lone surrogate."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode(errors="replace").decode()
    return text


def header_text(value: str) -> str:
    """A header as received: HTTP hands its bytes over as Latin-1, so a UTF-8 value
    (``café``) is read back as UTF-8 and anything else stays as it came, cleaned."""
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode()
    return clean_text(value)


def storable_headers(headers) -> tuple[dict[str, str], bool]:
    """(headers to store, whether some were dropped), from ``(name, value)`` pairs."""
    kept: dict[str, str] = {}
    size = 0
    for count, (name, value) in enumerate(headers):
        name, value = header_text(name), header_text(value)
        size += len(name) + len(value)
        if count >= MAX_RESPONSE_HEADERS or size > MAX_RESPONSE_HEADER_BYTES:
            return kept, True
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept, False


def storable_body(raw: bytes) -> tuple[str, str]:
    """(body, encoding): text when the body is UTF-8 without NUL bytes, otherwise
    base64, so any body is stored safely and shown as binary."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        # A cut at the size limit may split a multi-byte character: allow that one.
        try:
            text = raw[:-3].decode() + raw[-3:].decode(errors="ignore")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode(), "base64"
    if "\x00" in text:
        return base64.b64encode(raw).decode(), "base64"
    return text, "text"


def short(message: object) -> str:
    """An exception or message as a failure detail: cleaned and cut to fit."""
    return clean_text(str(message))[:MAX_TEXT]
