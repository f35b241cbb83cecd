from django.urls import include, path

app_name = "campaigns"

urlpatterns = [
    path("", include("campaigns.pages.urls")),
    path("", include("campaigns.stats.urls")),
    path("", include("campaigns.wizard.urls")),
    path("", include("campaigns.profiles.urls")),
    path("", include("campaigns.segments.urls")),
]
