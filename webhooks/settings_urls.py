from django.urls import path

from webhooks import settings_views

urlpatterns = [
    path("settings", settings_views.settings_page, name="settings"),
    path("settings/api-keys", settings_views.api_key_create, name="api_key_create"),
    path(
        "settings/api-keys/<int:pk>/revoke",
        settings_views.api_key_revoke,
        name="api_key_revoke",
    ),
    path("logs", settings_views.activity_log, name="logs"),
]
