from django.urls import path

from campaigns.wizard import actions, views

urlpatterns = [
    path("campaigns/new", views.campaign_new, name="new"),
    path("campaigns/<int:pk>/edit/<slug:step>", views.campaign_step, name="step"),
    path("campaigns/<int:pk>/audience", views.campaign_audience, name="audience"),
    path("campaigns/<int:pk>/held-out", views.campaign_held_out, name="held_out"),
    path("campaigns/<int:pk>/body-preview", actions.body_preview, name="body_preview"),
    path("campaigns/<int:pk>/test-send", actions.test_send, name="test_send"),
    path("campaigns/<int:pk>/test-send/<int:delivery_pk>", actions.test_result, name="test_result"),
    path("campaigns/<int:pk>/publish", actions.publish, name="publish"),
]
