from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config.api import api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="deliveries:dashboard", permanent=False)),
    path(
        "admin/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("admin/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/webhooks/", include("webhooks.urls")),
    path("admin/", include("webhooks.settings_urls")),
    path("admin/", include("deliveries.urls")),
    path("admin/", include("deliveries.stats_urls")),
    path("admin/", include("campaigns.urls")),
    path("api/v1/", api.urls),
]
