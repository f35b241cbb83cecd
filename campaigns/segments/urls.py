from django.urls import path

from config.pages import not_built_yet

urlpatterns = [
    path("segments", not_built_yet, {"page": "Segments", "nav": "segments"}, name="segments"),
]
