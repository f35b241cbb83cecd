from django.urls import include, path

from config.pages import not_built_yet

app_name = "campaigns"

urlpatterns = [
    path("campaigns", not_built_yet, {"page": "Campaigns", "nav": "campaigns"}, name="list"),
    path("", include("campaigns.profiles.urls")),
    path("", include("campaigns.segments.urls")),
]
