from django.urls import path

from campaigns.stats import views

urlpatterns = [
    path("campaigns/<int:pk>/stats", views.campaign_stats, name="stats"),
    path("campaigns/<int:pk>/stats/audience", views.campaign_audience, name="stats_audience"),
]
