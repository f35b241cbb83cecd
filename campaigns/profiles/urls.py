from django.urls import path

from campaigns.profiles import views

urlpatterns = [
    path("profiles", views.profile_list, name="profiles"),
    path("profiles/<int:pk>", views.profile_detail, name="profile"),
]
