"""The Celery app. Settings come from Django's settings under the ``CELERY_`` prefix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # the tasks module of every installed app
# Packages inside an app that keep their own tasks module.
app.autodiscover_tasks(["deliveries.engine", "deliveries.log", "campaigns.sending"])
