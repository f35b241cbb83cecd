from django.urls import path

from config.pages import not_built_yet

urlpatterns = [
    path("profiles", not_built_yet, {"page": "Profiles", "nav": "profiles"}, name="profiles"),
]
