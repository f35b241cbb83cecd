"""The embedded default and production settings."""

import os
import subprocess
import sys

import pytest
from celery import Celery

from tests.support.processes import ROOT, start_worker, stop, wait_for


def run_manage(*args, **env_overrides):
    unset = ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="false",
        SECRET_KEY="x7!kQ2#mZp9$Lr4&Vt8*Wn3^Bc6@Hd1(Jf5)Gs0+Ky2=Ua7-Ee9_Oi4",
        ALLOWED_HOSTS="portal.example.com",
        VAR_DIR=str(tmp_path),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {"DEBUG": "false", "VAR_DIR": str(tmp_path), "SECRET_KEY": ""}
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_bad_boolean_settings_are_reported(tmp_path):
    result = run_manage("check", DEBUG="maybe", VAR_DIR=str(tmp_path))
    assert "DEBUG must be true or false" in result.stderr


def test_the_embedded_default_migrates_sqlite_under_var(tmp_path):
    result = run_manage("migrate", "-v0", DEBUG="true", VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "portal.sqlite3").exists()


def test_the_demo_prints_the_address_it_really_serves(tmp_path):
    """`WEB_PORT=8200 make run` must not print port 8000."""
    env = {"DEBUG": "true", "VAR_DIR": str(tmp_path), "WEB_PORT": "8200"}
    assert run_manage("migrate", "-v0", **env).returncode == 0
    result = run_manage("load_demo", **env)
    assert result.returncode == 0, result.stderr
    assert "URL:      http://127.0.0.1:8200/admin/" in result.stdout
    assert "8000" not in result.stdout


@pytest.mark.worker
def test_a_separate_worker_picks_up_a_task_from_the_embedded_broker(tmp_path, monkeypatch):
    broker_dir = tmp_path / "broker"
    worker = start_worker(
        {"CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_DIR": str(broker_dir)},
        "--pool=solo",
        log=tmp_path / "worker.log",
    )
    try:
        # Celery lets CELERY_BROKER_URL from the environment win over broker=.
        monkeypatch.delenv("CELERY_BROKER_URL")
        sender = Celery(broker="filesystem://", set_as_current=False)
        sender.conf.broker_transport_options = {
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "control_folder": str(broker_dir / "control"),
        }
        (broker_dir / "queue").mkdir(parents=True, exist_ok=True)
        marker = tmp_path / "marker.txt"
        sender.send_task("tests.write_marker", args=[str(marker), "picked up"])
        assert wait_for(marker.exists, timeout=30), stop(worker)
        assert marker.read_text() == "picked up"
    finally:
        stop(worker)


@pytest.mark.worker
def test_a_separate_worker_picks_up_a_task_from_redis(tmp_path, worker_env):
    worker = start_worker(worker_env, "--pool=solo", log=tmp_path / "worker.log")
    try:
        from config.celery import app

        marker = tmp_path / "marker.txt"
        app.send_task("tests.write_marker", args=[str(marker), "via redis"])
        assert wait_for(marker.exists, timeout=30), stop(worker)
    finally:
        stop(worker)
