import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import override_settings

from config.web import ADMIN_GROUP
from tests.support import database
from tests.support.processes import start_worker, stop
from webhooks.models import SystemSettings

PASSWORD = "correct horse battery staple"

# A test that starts one of these is marked for it, whatever its module says, so
# `-m "not browser and not worker"` (make test-fast) never starts Chromium or a worker.
MARK_BY_FIXTURE = {"browser": "browser", "start_workers": "worker", "worker_env": "worker"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in MARK_BY_FIXTURE.keys() & set(item.fixturenames):
            item.add_marker(MARK_BY_FIXTURE[fixture])


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """pytest-django's hook for the settings of the test databases (the xdist suffix first)."""
    if connection.vendor == "postgresql":
        options = connection.settings_dict.setdefault("OPTIONS", {})
        options["options"] = " ".join(
            filter(None, [options.get("options"), database.TEST_CONNECTION_OPTIONS])
        )
        database.flush_with_deletes()


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """PBKDF2's million iterations take 0.3 s a password (more on a busy machine), and
    nearly every page test creates a user: a cheap hash saves minutes of the suite."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def portal_celery_app_stays_current():
    """``Celery(...)`` makes the new app this thread's current one, and every shared task
    publishes through the current app. A test that makes its own (test_setup.py's sender
    to the embedded broker) would otherwise send every later test's tasks in this process
    to that app's broker: whatever CELERY_BROKER_URL said when its connection pool was made."""
    from config.celery import app

    yield
    app.set_current()


@pytest.fixture(autouse=True)
def fresh_endpoint_limits():
    """Forget the endpoint slots and rate buckets earlier tests (or runs) left in Redis:
    test databases reuse webhook ids."""
    from deliveries.engine import limits
    from deliveries.engine.shared_redis import client

    redis_client = client()
    if redis_client is not None:
        keys = list(redis_client.scan_iter("deliveries:slots:*"))
        keys += list(redis_client.scan_iter("deliveries:rate:*"))
        if keys:
            redis_client.delete(*keys)
    limits._local.__init__()
    yield


@pytest.fixture
def admin_user(db):
    user = get_user_model().objects.create_user("alice", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name=ADMIN_GROUP)[0])
    return user


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def member_client(client, db):
    """Logged in, but without the Admin role."""
    user = get_user_model().objects.create_user("bob", password=PASSWORD)
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client.force_login(user)
    return client


@pytest.fixture
def receiver():
    from tests.support.receiver import Receiver

    running = Receiver().start()
    yield running
    running.stop()


def test_database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_env(transactional_db):
    from config.celery import app

    app.control.purge()  # wake-ups left by earlier tests
    return {
        "DATABASE_URL": test_database_url(),
        "DELIVERIES_DISPATCH_INTERVAL": "0.3",
        "DELIVERIES_LEASE_MARGIN": "1",
        "WEBHOOKS_ALLOWED_NETWORKS": "127.0.0.0/8",
    }


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


@pytest.fixture
def other_session(db):
    """Another database session, as another host's worker would hold: a lock it takes
    is held until it lets go."""
    settings = connection.settings_dict
    session = psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )
    yield session
    session.close()
