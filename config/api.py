"""The JSON API (django-ninja), served under /api/v1/ with its OpenAPI schema, and what
every router shares: ``check_storable`` (input PostgreSQL can store), ``limit_body`` (413
before a large body is read) and ``IsoDateTime``.

Every error answers JSON: ``{"detail": "..."}``, or for invalid input (422)
``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``. A body that is not JSON
is invalid input too, in that same shape.
"""

import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, NinjaAPI, Schema, errors
from ninja.parser import Parser
from pydantic import BeforeValidator

from config.web import admin_required

# The routers are mounted in config/urls.py: this module is imported by them for the
# schemas below, so it imports no app.


class ErrorOut(Schema):
    """Any error but invalid input: what went wrong, in a sentence."""

    detail: str


class ValidationError(Schema):
    """One invalid input; named as seed 001 publishes it."""

    loc: list[str | int] = Field(
        title="Location", description='Where the error is, e.g. ["body", "payload"].'
    )
    msg: str = Field(title="Message")
    type: str = Field(title="Error Type")


class HTTPValidationError(Schema):
    """Invalid input (422), in seed 001's shape: every API answers it this way."""

    detail: list[ValidationError] = Field(title="Detail")


def _iso_8601(value: Any) -> Any:
    # pydantic reads a number (or text of one) as seconds since 1970; the schemas say
    # ISO 8601 (format: date-time), so only text that starts with a date is a time.
    if isinstance(value, datetime):
        return value
    if not (isinstance(value, str) and ISO_DATE_START.match(value)):
        raise ValueError("give the time as ISO 8601 text, e.g. 2026-01-31T14:05:00Z")
    return value


ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# A time as the API takes it: ISO 8601 text only.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601)]


class MalformedJSON(ValueError):
    """The request body is not JSON that can be stored."""


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        # 1e400 overflows to infinity, which JSON (and PostgreSQL's jsonb) cannot hold.
        raise ValueError(f"number {text} is out of range")
    return number


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class JSONParser(Parser):
    def parse_body(self, request: HttpRequest):
        try:
            return json.loads(
                request.body, parse_float=_finite_float, parse_constant=_reject_constant
            )
        except ValueError as exc:  # Also bytes that are not UTF-8, and over-long integers.
            raise MalformedJSON(str(exc)) from exc
        except RecursionError:
            raise MalformedJSON("nested too deeply") from None


api = NinjaAPI(
    title="Webhook Portal API",
    version="1.0.0",
    urls_namespace="api",
    parser=JSONParser(),
    # /api/v1/docs and /api/v1/openapi.json are portal pages: admins only.
    docs_decorator=admin_required,
)


@api.exception_handler(errors.ValidationError)
def invalid_input(request: HttpRequest, exc: errors.ValidationError) -> HttpResponse:
    # Only loc, msg and type: pydantic's ctx and input are its internals, and input may
    # echo back whatever the client sent.
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors]
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(errors.HttpError)
def http_error(request: HttpRequest, exc: errors.HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, MalformedJSON):
        # ninja answers a body its parser rejects with a bare 400 "Cannot parse request
        # body"; we answer it like any other invalid input.
        error = {"loc": ["body"], "msg": f"Malformed JSON: {exc.__cause__}", "type": "json_invalid"}
        return invalid_input(request, errors.ValidationError([error]))
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(errors.AuthenticationError)
def unauthenticated(request: HttpRequest, exc: errors.AuthenticationError) -> HttpResponse:
    detail = "A valid API key is required, sent as 'Authorization: Bearer <key>'."
    response = api.create_response(request, {"detail": detail}, status=401)
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django raises this reading a body over DATA_UPLOAD_MAX_MEMORY_SIZE; it would be a 400.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    detail = f"The request body is larger than {limit} bytes."
    return api.create_response(request, {"detail": detail}, status=413)


# Ruby's JSON parser stops at the same depth; real payloads stay far below it.
MAX_PAYLOAD_DEPTH = 100


def check_storable(value: Any) -> Any:
    """``value`` (text or JSON) unchanged if it can be stored; ``ValueError`` otherwise.

    PostgreSQL refuses NUL characters and lone surrogates in text and jsonb, and encoding
    a deeply nested payload overflows Python's stack: refusing them while validating
    gives the client a 422 rather than a 500. Other APIs' inputs are checked with it too.
    """
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth == MAX_PAYLOAD_DEPTH:
                raise ValueError(f"nested deeper than {MAX_PAYLOAD_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ValueError("text cannot contain the NUL character (\\u0000)")
            try:
                item.encode()
            except UnicodeEncodeError:
                raise ValueError("text cannot contain unpaired surrogates") from None
    return value


def limit_body(max_bytes: int) -> Callable:
    """Wrap a ninja operation so a request body over ``max_bytes`` answers 413.

    It runs before authentication and parsing. Content-Length is checked first, so an
    oversized body is never read; the body actually read is checked as well, in case the
    header understated it.
    """

    def decorator(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(run)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0  # Django reads no body then either.
            if declared > max_bytes:
                return _too_large(max_bytes)
            try:
                body = request.body
            except RequestDataTooBig:
                # Only when DATA_UPLOAD_MAX_MEMORY_SIZE is set below max_bytes.
                return _too_large(max_bytes)
            if len(body) > max_bytes:
                return _too_large(max_bytes)
            return run(request, *args, **kwargs)

        return guarded

    return decorator


def _too_large(max_bytes: int) -> JsonResponse:
    detail = f"The request body is larger than {max_bytes // 1024} KiB ({max_bytes} bytes)."
    return JsonResponse({"detail": detail}, status=413)
