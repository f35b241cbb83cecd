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
