"""config.supervise: a process of `make run` that exits is printed and started again."""

import signal
import subprocess
import sys
import time

from tests.support.processes import wait_for


def _supervise(*command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "config.supervise", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_command_that_exits_is_started_again_and_the_exit_printed(tmp_path):
    starts = tmp_path / "starts"
    crash = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    process = _supervise(sys.executable, "-c", crash)
    try:
        assert wait_for(lambda: starts.exists() and len(starts.read_text()) >= 2, timeout=15)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert "exited with code 3" in stderr
    assert "starting it again in 1 s (restart 1)" in stderr


def test_sigterm_stops_the_command_and_exits_with_its_code(tmp_path):
    ready = tmp_path / "ready"
    sleeper = f"open({str(ready)!r}, 'w').close(); import time; time.sleep(60)"
    process = _supervise(sys.executable, "-c", sleeper)
    assert wait_for(ready.exists, timeout=15)
    started = time.monotonic()

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)

    assert time.monotonic() - started < 10
    assert process.returncode == 128 + signal.SIGTERM
    assert "starting it again" not in stderr
