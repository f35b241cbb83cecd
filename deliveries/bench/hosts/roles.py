"""What each host runs, started inside its namespace as a real host of the portal would run
it (README, "Deploying"; config/Procfile): gunicorn on a web host, a Celery worker under
``config.supervise`` on a worker host, beat; and the receivers, and the forwarder in the
root namespace.

Every process gets only the environment a host would have (the database and broker
reached through the forwarder, the secret key, the allowed hosts, the outbound guard's
exception for the receivers), not this process's, and writes its log to
``<logs>/<host>-<role>.log``.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from deliveries.bench.hosts.network import Host, in_namespace, pids, signal_all

PYTHON = sys.executable
WEB_PORT = 8000
# What a host keeps of this process's environment: where programs are, and the locale.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


@dataclass
class Started:
    host: Host | None  # None: the root namespace
    role: str
    argv: list[str]
    process: subprocess.Popen


class Fleet:
    """The processes of the run, by host: started, killed, started again, stopped."""

    def __init__(self, environment: dict[str, str], logs: Path):
        self.environment = environment
        self.logs = logs
        self.started: list[Started] = []

    def log_path(self, host: Host | None, role: str) -> Path:
        return self.logs / f"{host.name if host else 'root'}-{role}.log"

    def start(self, host: Host | None, role: str, argv: list[str]) -> Started:
        """Run ``argv`` in ``host``'s namespace (or the root one) with the hosts'
        environment and a ``VAR_DIR`` of the host's own (beat keeps its schedule there)."""
        var_dir = self.logs / (host.name if host else "root")
        var_dir.mkdir(parents=True, exist_ok=True)
        env = {**self.environment, "VAR_DIR": str(var_dir)}
        with open(self.log_path(host, role), "a") as log:
            process = subprocess.Popen(
                in_namespace(host, argv) if host else argv,
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the run reaches it only through us
            )
        started = Started(host, role, argv, process)
        self.started.append(started)
        return started

    def web(self, host: Host, workers: int, threads: int) -> Started:
        return self.start(host, "web", [
            PYTHON, "-m", "gunicorn", "config.wsgi", f"--bind={host.address}:{WEB_PORT}",
            f"--workers={workers}", f"--threads={threads}", "--timeout=60",
            "--keep-alive=30", "--log-level=warning",
        ])  # fmt: skip

    def worker(self, host: Host, concurrency: int) -> Started:
        """A prefork worker named ``<host>@hosts``, restarted by ``config.supervise``
        whenever it exits (as a process manager would)."""
        return self.start(host, "worker", [
            PYTHON, "-m", "config.supervise", PYTHON, "-m", "celery", "-A", "config",
            "worker", "--loglevel=INFO", f"--concurrency={concurrency}",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--hostname={worker_name(host)}",
        ])  # fmt: skip

    def beat(self, host: Host) -> Started:
        return self.start(host, "beat", [
            PYTHON, "-m", "config.supervise", PYTHON, "-m", "celery", "-A", "config",
            "beat", "--loglevel=INFO",
        ])  # fmt: skip

    def receivers(self, host: Host, ports: list[int], delay: float, log: Path) -> Started:
        return self.start(host, "receivers", [
            PYTHON, "-m", "deliveries.bench.hosts.receiver", f"--log={log}",
            f"--delay={delay}", *map(str, ports),
        ])  # fmt: skip

    def forwarder(self, listen: str, routes: dict[int, tuple[str, int]]) -> Started:
        return self.start(None, "forwarder", [
            PYTHON, "-m", "deliveries.bench.hosts.forwarder", f"--listen={listen}",
            f"--parent={os.getpid()}",
            *(f"{port}={host}:{target}" for port, (host, target) in routes.items()),
        ])  # fmt: skip

    def kill(self, host: Host) -> int:
        """SIGKILL every process of ``host`` at once, as a machine that loses power; how
        many there were. They are reaped when the host is stopped."""
        return signal_all(host.namespace, signal.SIGKILL)

    def restart(self, host: Host) -> None:
        """Start again what ``host`` ran (after ``kill``)."""
        for started in [s for s in self.started if s.host == host]:
            self.start(host, started.role, started.argv)

    def stop(self, hosts: list[Host], grace: float = 15) -> None:
        """Stop every process of ``hosts`` together (SIGTERM, then SIGKILL after
        ``grace`` seconds), and reap what this fleet started there."""
        for host in hosts:
            signal_all(host.namespace, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(pids(h.namespace) for h in hosts) and time.monotonic() < deadline:
            time.sleep(0.2)
        for host in hosts:
            signal_all(host.namespace, signal.SIGKILL)
        for started in self.started:
            if started.host in hosts:
                _reap(started.process, 10)

    def stop_root(self) -> None:
        """Stop what runs in the root namespace (the forwarder)."""
        for started in self.started:
            if started.host is None and started.process.poll() is None:
                started.process.terminate()
                _reap(started.process, 10)


def worker_name(host: Host) -> str:
    return f"{host.name}@hosts"


def _reap(process: subprocess.Popen, timeout: float) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def host_environment(
    database_url: str, broker_url: str, web_hosts: list[Host], receivers: Host
) -> dict[str, str]:
    """The environment every host shares: production settings (DEBUG off) over plain
    HTTP, and the outbound guard letting through the receivers' address only."""
    return {
        **{name: os.environ[name] for name in INHERITED if name in os.environ},
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": ",".join(host.address for host in web_hosts),
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_MANIFEST": "false",
        "WEBHOOKS_ALLOWED_NETWORKS": f"{receivers.address}/32",
        # Nine processes share the machine's PostgreSQL with others: a small pool each.
        "DATABASE_POOL_MAX_SIZE": "4",
    }


def wait_listening(address: str, port: int, timeout: float, started: Started) -> None:
    """Return once ``address:port`` accepts a connection; raise ``TimeoutError`` (or
    ``RuntimeError`` if the process that should listen exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            raise RuntimeError(f"{started.role} exited with code {started.process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((address, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{started.role} not listening on {address}:{port} after {timeout} s")


def wait_healthy(host: Host, timeout: float, started: Started) -> None:
    """Return once the web host's ``/healthz`` answers 200 (its database and broker are
    reachable through the forwarder); raise ``TimeoutError``."""
    deadline, answer = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            raise RuntimeError(f"gunicorn on {host.name} exited: see its log")
        connection = http.client.HTTPConnection(host.address, WEB_PORT, timeout=5)
        try:
            connection.request("GET", "/healthz", headers={"Host": host.address})
            response = connection.getresponse()
            answer = f"{response.status} {response.read()[:200]!r}"
            if response.status == 200:
                return
        except OSError as error:
            answer = str(error)
        finally:
            connection.close()
        time.sleep(0.3)
    raise TimeoutError(f"web {host.name} not healthy after {timeout} s: {answer}")
