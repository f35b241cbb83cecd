from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from campaigns.profiles.api import router as profiles_router
from campaigns.segments.api import router as segments_router
from config.api import api
from config.events_api import router as events_router
from deliveries.stats.api import router as stats_router

api.add_router("/", events_router)
api.add_router("/", stats_router)
api.add_router("/", profiles_router)
api.add_router("/", segments_router)

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="stats:dashboard", permanent=False)),
    path(
        "admin/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("admin/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/webhooks/", include("webhooks.urls")),
    path("admin/", include("webhooks.portal.urls")),
    path("admin/", include("deliveries.log.urls")),
    path("admin/", include("deliveries.stats.urls")),
    path("admin/", include("campaigns.urls")),
    path("api/v1/", api.urls),
    path("healthz", include("config.health")),
]
