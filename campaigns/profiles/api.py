"""The profiles API: POST /api/v1/profiles creates or updates profiles by identity."""

import re
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Body, Router, Schema
from ninja.decorators import decorate_view
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from campaigns.profiles import records
from config.api import ErrorOut, HTTPValidationError, check_storable, limit_body
from webhooks.api_auth import ApiKeyAuth

router = Router(tags=["profiles"])

MAX_BATCH = 1000
# A full batch at about 2 KiB a profile; Django's own limit (2.5 MB) is above it.
MAX_PROFILES_BYTES = 2 * 1024 * 1024
# Loose on purpose: clients' addresses are kept as sent, only what is plainly no address
# is refused.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class ProfileIn(BaseModel):
    # Plain pydantic with unknown fields refused, as EventIn: a misspelt "push_tokn"
    # must not pass unnoticed.
    model_config = ConfigDict(extra="forbid")

    identity: str = Field(
        min_length=1,
        max_length=200,
        description="Who the profile is: your system's user id. An identity not seen before "
        "creates a profile; a known one updates it.",
        examples=["user-1842"],
    )
    email: str | None = Field(
        default=None,
        max_length=254,
        description='Stored in lower case; null or "" clears it.',
        examples=["ada@example.com"],
    )
    object_id: str | None = Field(default=None, max_length=100, description='Null or "" clears it.')
    push_token: str | None = Field(
        default=None, max_length=500, description='Null or "" clears it.'
    )
    properties: dict[str, Any] = Field(
        default_factory=dict,
        description="Merged into the stored properties key by key (top level): a key sent "
        "replaces its value, a key sent as null is removed, keys not sent are kept.",
        examples=[{"country": "Canada", "plan": "pro", "trial_ends": None}],
    )

    @field_validator("identity", "email", "object_id", "push_token", "properties")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_storable(value)

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str | None) -> str | None:
        if value and value.strip() and not EMAIL.match(value.strip()):
            raise ValueError("not an email address")
        return value


class ProfileBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: list[ProfileIn] = Field(min_length=1, max_length=MAX_BATCH)


def _form(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "profiles" in value else "profile"


def _untagged(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # pydantic puts the union's tag first in every error's loc; without it a batch's
    # errors read ["body", "payload", "profiles", 3, "email"].
    try:
        return handler(value)
    except ValidationError as exc:
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(error["type"], error["msg"]),
                loc=error["loc"][1:],
                input=error["input"],
            )
            for error in exc.errors()
        ]
        raise ValidationError.from_exception_data(exc.title, errors) from None


ProfilesIn = Annotated[
    Annotated[ProfileIn, Tag("profile")] | Annotated[ProfileBatch, Tag("batch")],
    Discriminator(_form),
    WrapValidator(_untagged),
]


class ProfilesOut(Schema):
    created: int = Field(description="Profiles created.")
    updated: int = Field(description="Profiles that existed and were updated.")
    identities: list[str] = Field(
        description="The identities sent, each once, in the order first sent."
    )


# Explicitly the body: ninja takes a union of tagged models for a query parameter.
BODY = Body(...)


@router.post(
    "/profiles",
    auth=ApiKeyAuth(),
    response={200: ProfilesOut, 401: ErrorOut, 413: ErrorOut, 422: HTTPValidationError},
    summary="Create or update profiles",
    description=(
        'Creates or updates profiles by `identity`: one profile, or `{"profiles": [...]}` '
        f"with up to {MAX_BATCH:,} of them, stored together or not at all. Fields left out "
        "keep their stored value; `properties` are merged into the stored ones key by key, "
        "and a key sent as null is removed. An identity sent twice in a batch applies its "
        "changes in order. Invalid fields answer 422, each error's `loc` naming the "
        "profile's index in a batch; the body may be at most "
        f"{MAX_PROFILES_BYTES // 1024 // 1024} MiB (413 otherwise)."
    ),
)
@decorate_view(limit_body(MAX_PROFILES_BYTES))
def upsert_profiles(request: HttpRequest, payload: ProfilesIn = BODY) -> ProfilesOut:
    items = payload.profiles if isinstance(payload, ProfileBatch) else [payload]
    # Only the fields sent: one left out keeps its stored value, a null clears it.
    result = records.upsert_profiles(item.model_dump(exclude_unset=True) for item in items)
    identities = list(dict.fromkeys(item.identity for item in items))
    return ProfilesOut(
        created=len(result.created), updated=len(result.updated), identities=identities
    )
