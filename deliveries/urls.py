from django.urls import path

from config.pages import not_built_yet
from deliveries.views import dashboard

app_name = "deliveries"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path(
        "webhook-deliveries",
        not_built_yet,
        {"page": "Webhook Deliveries", "nav": "deliveries"},
        name="log",
    ),
]
