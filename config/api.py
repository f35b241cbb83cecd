"""The JSON API (django-ninja), served under /api/v1/ with its OpenAPI schema.

Every error answers JSON: ``{"detail": "..."}``, or for invalid input (422)
``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``. A body that is not JSON
is invalid input too, in that same shape.
"""

import json
import math
import re
from datetime import datetime
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
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
