"""The Celery app. Settings come from Django's settings under the ``CELERY_`` prefix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # the tasks module of every installed app
# Packages inside an app that keep their own tasks module.
app.autodiscover_tasks(["deliveries.engine", "deliveries.log"])


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs):
    """The filesystem transport expects its folders to exist before anyone writes."""
    from pathlib import Path

    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)
