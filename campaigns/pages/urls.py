from django.urls import path

from campaigns.pages import views

urlpatterns = [
    path("campaigns", views.campaign_list, name="list"),
    path("campaigns/<int:pk>", views.campaign_detail, name="detail"),
    path("campaigns/<int:pk>/progress", views.campaign_progress, name="progress"),
    path("campaigns/<int:pk>/pause", views.campaign_pause, name="pause"),
    path("campaigns/<int:pk>/resume", views.campaign_resume, name="resume"),
    path("campaigns/<int:pk>/stop", views.campaign_stop, name="stop"),
]
