"""Authentication for the JSON API: an API key sent as ``Authorization: Bearer <key>``."""

from django.http import HttpRequest
from ninja.security import HttpBearer

from webhooks.models import ApiKey


class ApiKeyAuth(HttpBearer):
    """Accept a live (not revoked) ``ApiKey``; the operation sees it as ``request.auth``.

    A missing, malformed, unknown or revoked key answers 401.
    """

    def __call__(self, request: HttpRequest) -> ApiKey | None:
        # Replaces HttpBearer.__call__, which logs the whole header (the key) in DEBUG
        # when the scheme is not "Bearer". Nothing here logs or echoes the key.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return ApiKey.authenticate(token)
