from django.urls import path

from deliveries.log.views import attempts, bulk, detail, log

app_name = "deliveries"

urlpatterns = [
    path("webhook-deliveries", log.delivery_log, name="log"),
    path("webhook-deliveries/attempts", attempts.attempt_log, name="attempts"),
    path("webhook-deliveries/<int:pk>", detail.delivery_detail, name="detail"),
    path("webhook-deliveries/<int:pk>/row", log.delivery_row, name="row"),
    path("webhook-deliveries/<int:pk>/retry", detail.delivery_retry, name="retry"),
    path("webhook-deliveries/<int:pk>/skip", detail.delivery_skip, name="skip"),
    path("webhook-deliveries/bulk-retry", bulk.bulk_retry, name="bulk_retry"),
    path("webhook-deliveries/bulk-retry/<int:pk>", bulk.bulk_progress, name="bulk_progress"),
]
