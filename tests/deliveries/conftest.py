import pytest

from tests.support.processes import start_worker, stop
from webhooks.models import SystemSettings


@pytest.fixture
def compressed_retries(transactional_db):
    """3 retries over 3 seconds instead of 30 minutes."""
    system = SystemSettings.load()
    system.max_retries, system.retry_window_seconds = 3, 3
    system.save()
    return system


@pytest.fixture
def start_workers(worker_env, tmp_path):
    """Start real Celery workers (prefork, with embedded beat) on the test database."""
    started = []

    def start(env_overrides=None, name="worker"):
        worker = start_worker(
            {**worker_env, **(env_overrides or {})},
            "--concurrency=2",
            "--beat",
            f"--schedule={tmp_path / (name + '-beat')}",
            log=tmp_path / f"{name}.log",
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        stop(worker)
