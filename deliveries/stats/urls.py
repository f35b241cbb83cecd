"""The stats pages: the dashboard at /admin/ and each webhook's stats page."""

from django.urls import path

from deliveries.stats import views

app_name = "stats"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("webhooks/<int:pk>/stats", views.webhook_stats, name="webhook"),
]
