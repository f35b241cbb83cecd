"""One Redis database per pytest-xdist process (``pytest -n 2``).

pytest-django gives each xdist process a test database of its own (``test_<name>_gw0``,
``test_<name>_gw1``). The broker's Redis is shared state too: the Celery queue that a test's
real worker reads, the dispatcher's wake-up flag and the endpoints' slots and rate buckets,
which ``fresh_endpoint_limits`` deletes before every test. Two processes on one Redis
database would take each other's tasks (a worker would look for another process's
deliveries in its own test database) and clear each other's slots mid-test.

So process ``gw<n>`` uses database ``N - n`` of the Redis that ``CELERY_BROKER_URL`` names,
where ``N`` is that URL's database: with the default ``.../15``, gw0 uses 15 and gw1 14;
with ``.../13``, 13 and 12. Without xdist nothing changes.

pyproject.toml loads this module with ``-p``: the URL must be rewritten before
pytest-django sets Django up (settings read the environment once), and after pytest-env
has filled in the default; the Celery workers the tests start inherit the environment.
"""

import os
from urllib.parse import urlsplit

import pytest


def redis_url_for_process(url: str, process: int) -> str:
    """``url`` with its database number lowered by ``process``; raises ``pytest.UsageError``
    when that would go below 0."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    db = base - process
    if db < 0:
        raise pytest.UsageError(
            f"CELERY_BROKER_URL={url} leaves no Redis database for xdist process gw{process}: "
            "each process n uses database N - n, so name a higher one (the default is 15)."
        )
    return parts._replace(path=f"/{db}").geturl()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    process = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ...; unset without -n
    url = os.environ.get("CELERY_BROKER_URL", "")
    if process and url.startswith(("redis://", "rediss://")):
        os.environ["CELERY_BROKER_URL"] = redis_url_for_process(url, int(process[2:]))
