"""The production way to run the web: gunicorn, whitenoise's static files and ``/healthz``
(config/health.py)."""

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests import conftest
from tests.support.processes import ROOT, stop, wait_for

SECRET_KEY = "x7!kQ2#mZp9$Lr4&Vt8*Wn3^Bc6@Hd1(Jf5)Gs0+Ky2=Ua7-Ee9_Oi4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_server(transactional_db, tmp_path):
    """Start gunicorn on the test database, after `collectstatic` into a tmp STATIC_ROOT;
    returns its base URL. Stopped at the end of the test."""
    static_root = tmp_path / "static"
    # DEBUG off as on a web host, but plain HTTP on 127.0.0.1: no TLS proxy here.
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": str(static_root),
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": conftest.test_database_url(),
    }
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    started = []

    def start(**env_overrides) -> str:
        port = free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "config.wsgi",
                f"--bind=127.0.0.1:{port}", "--workers=2", "--threads=2", "--timeout=30",
                f"--error-logfile={log}",
            ],
            cwd=ROOT, env={**env, **env_overrides},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        process.log_path = log
        started.append(process)
        base = f"http://127.0.0.1:{port}"

        def listening() -> bool:
            try:
                requests.get(f"{base}/admin/login/", timeout=5)
            except requests.ConnectionError:
                return process.poll() is not None  # stop waiting for a server that died
            return True

        assert wait_for(listening, timeout=60) and process.poll() is None, stop(process)
        return base

    start.static_root = static_root
    yield start
    for process in started:
        stop(process)


def test_gunicorn_serves_the_login_page_and_its_hashed_stylesheet(start_server):
    base = start_server()
    page = requests.get(f"{base}/admin/login/", timeout=10)
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert "csrfmiddlewaretoken" in page.text
    # The manifest storage names the file by its content; whitenoise serves it for a year.
    stylesheet = re.search(r'href="(/static/css/portal\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, page.text
    css = requests.get(base + stylesheet[1], timeout=10)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert "immutable" in css.headers["Cache-Control"]
    assert (
        css.content
        == (start_server.static_root / stylesheet[1].removeprefix("/static/")).read_bytes()
    )


def test_gunicorn_answers_healthz_without_a_login(start_server):
    response = requests.get(f"{start_server()}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_healthz_names_an_unreachable_database_within_seconds(start_server):
    base = start_server(DATABASE_URL="postgres://portal:hunter2@127.0.0.1:1/portal")
    started = time.monotonic()
    response = requests.get(f"{base}/healthz", timeout=20)
    assert time.monotonic() - started < 10  # not the pool's 30 s wait for a connection
    assert response.status_code == 503
    body = response.json()
    assert body["database"].startswith("failed: ")
    assert body["broker"] == "ok"
    assert "hunter2" not in response.text


def test_healthz_answers_ok_to_an_anonymous_client(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_names_an_unreachable_redis_broker_without_its_password(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://:hunter2@127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("failed: ConnectionError")
    assert "hunter2" not in response.content.decode()


def test_healthz_checks_other_brokers_through_kombu(client, db, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:hunter2@127.0.0.1:1//"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("failed: ")
    assert "hunter2" not in response.content.decode()


def test_healthz_accepts_the_embedded_filesystem_broker(client, db, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
    }
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_healthz_answers_get_and_head_only_and_never_redirects_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.head("/healthz").status_code in (200, 503)
    assert client.get("/healthz").status_code in (200, 503)  # no 301 to https
    assert client.get("/admin/login/").status_code == 301  # the rest does redirect
    assert client.post("/healthz").status_code == 405
