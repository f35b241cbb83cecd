"""Stats pages beyond the dashboard (per webhook)."""

from django.urls import path

from deliveries.views import stats

app_name = "stats"

urlpatterns = [
    path("webhooks/<int:pk>/stats", stats.webhook_stats, name="webhook"),
]
