"""Site-wide pages that belong to no app."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.web import admin_required


@require_GET
@admin_required
def not_built_yet(request: HttpRequest, page: str, nav: str) -> HttpResponse:
    return render(request, "not_built_yet.html", {"page": page, "nav": nav})
