from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config import pages

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deliveries:dashboard", permanent=False)),
    path(
        "admin/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("admin/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/webhooks/", include("webhooks.urls")),
    path("admin/", include("deliveries.urls")),
    path("admin/", include("campaigns.urls")),
    path(
        "admin/settings",
        pages.not_built_yet,
        {"page": "Settings", "nav": "settings"},
        name="settings",
    ),
    path("admin/logs", pages.not_built_yet, {"page": "Logs", "nav": "logs"}, name="logs"),
]
