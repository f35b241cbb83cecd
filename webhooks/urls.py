from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhook_list, name="list"),
    path("new/", views.webhook_create, name="create"),
    path("<int:pk>/", views.webhook_edit, name="edit"),
    path("<int:pk>/enable/", views.webhook_enable, name="enable"),
    path("<int:pk>/delete/", views.webhook_delete, name="delete"),
    path("<int:pk>/secret/reveal/", views.secret_reveal, name="secret_reveal"),
    path("<int:pk>/secret/rotate/", views.secret_rotate, name="secret_rotate"),
    path("event-types/", views.event_type_list, name="event_types"),
    path("event-types/<int:pk>/", views.event_type_edit, name="event_type_edit"),
    path("event-types/<int:pk>/delete/", views.event_type_delete, name="event_type_delete"),
]
