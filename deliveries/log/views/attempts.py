"""The attempts log: /admin/webhook-deliveries/attempts (see deliveries/log/attempts.py)."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.keyset import paginate
from config.web import HtmxRequest, admin_required
from deliveries.log.attempts import AttemptFilterForm
from deliveries.log.queries import PER_PAGE

ATTEMPTS = "deliveries/log/attempts.html"


@require_GET
@admin_required
def attempt_log(request: HtmxRequest) -> HttpResponse:
    form = AttemptFilterForm(request.GET)
    context = {"form": form, "nav": "deliveries"}
    if not form.is_valid():
        return render(request, ATTEMPTS, context, status=422)
    page = paginate(
        form.attempts(),
        time_field="attempted_at",
        after=request.GET.get("after") or None,
        before=request.GET.get("before") or None,
        per_page=PER_PAGE,
    )
    context.update(page=page, count=form.count(), window=form.cleaned_data["window"])
    return render(request, ATTEMPTS, context)
