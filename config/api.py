"""The JSON API (django-ninja), served under /api/v1/ with its OpenAPI schema."""

from ninja import NinjaAPI

api = NinjaAPI(title="Webhook Portal API", version="1.0.0", urls_namespace="api")
