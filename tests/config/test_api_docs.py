"""The API docs page: behind the admin login, with Swagger UI from our own static files."""

import re

from django.contrib.staticfiles import finders
from django.test import Client


def test_the_docs_and_schema_need_an_admin(member_client, db):
    for url in ("/api/v1/docs", "/api/v1/openapi.json"):
        response = Client().get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url
    assert member_client.get("/api/v1/docs").status_code == 403


def test_the_docs_page_loads_swagger_ui_from_our_static_files(admin_client):
    page = admin_client.get("/api/v1/docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assets = [url for url in sources if "swagger-ui" in url]
    assert {"swagger-ui-bundle.js", "swagger-ui.css"} <= {url.rsplit("/", 1)[-1] for url in assets}
    for url in assets:
        assert url.startswith("/static/"), url  # no CDN, nothing from another origin
        assert finders.find(url.removeprefix("/static/")), url
    assert "cdn" not in page.lower()


def test_the_schema_lists_every_endpoint_of_the_api(admin_client):
    schema = admin_client.get("/api/v1/openapi.json").json()
    operations = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert operations == {
        ("/api/v1/events", "post"),
        ("/api/v1/events/batch", "post"),
        ("/api/v1/workspace/webhooks/{webhook_id}/stats", "get"),
        ("/api/v1/profiles", "post"),
        ("/api/v1/segments", "get"),
        ("/api/v1/segments/preview", "post"),
        ("/api/v1/segments/{segment_id}/members", "get"),
    }
