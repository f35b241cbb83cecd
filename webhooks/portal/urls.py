"""The workspace pages: Settings (delivery defaults, API keys) and the activity log."""

from django.urls import path

from webhooks.portal import views

app_name = "portal"

urlpatterns = [
    path("settings", views.settings_page, name="settings"),
    path("settings/api-keys", views.api_key_create, name="api_key_create"),
    path("settings/api-keys/<int:pk>/revoke", views.api_key_revoke, name="api_key_revoke"),
    path("logs", views.activity_log, name="activity_log"),
]
