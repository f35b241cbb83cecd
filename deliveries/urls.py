from django.urls import path

from config.pages import not_built_yet
from deliveries import views

app_name = "deliveries"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path(
        "webhook-deliveries",
        not_built_yet,
        {"page": "Webhook Deliveries", "nav": "deliveries"},
        name="log",
    ),
]
