"""Tasks only the test suite's worker processes load (``celery worker -I``)."""

from pathlib import Path

from celery import shared_task


@shared_task(name="tests.write_marker")
def write_marker(path: str, text: str) -> None:
    Path(path).write_text(text)
