from django.urls import path

from config.pages import not_built_yet

urlpatterns = [
    path("settings", not_built_yet, {"page": "Settings", "nav": "settings"}, name="settings"),
    path("logs", not_built_yet, {"page": "Logs", "nav": "logs"}, name="logs"),
]
