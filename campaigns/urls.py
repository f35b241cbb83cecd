from django.urls import path

from config.pages import not_built_yet

app_name = "campaigns"

urlpatterns = [
    path("campaigns", not_built_yet, {"page": "Campaigns", "nav": "campaigns"}, name="list"),
    path("segments", not_built_yet, {"page": "Segments", "nav": "segments"}, name="segments"),
]
