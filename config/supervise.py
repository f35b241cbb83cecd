"""Run one process of ``make run`` and start it again whenever it exits.

honcho (config/Procfile) stops every process as soon as one of them exits, so one
crash took the whole portal offline. Each Procfile line runs through this instead::

    python -m config.supervise celery -A config worker ...

An exit is printed plainly (which command, its exit code, after how long) and the command
is started again after a pause that doubles while it keeps failing fast. SIGTERM and
SIGINT (Ctrl-C, or honcho stopping) are passed on, and then it exits with the command.
"""

import signal
import subprocess
import sys
import time

# A run this long counts as healthy: the next restart waits the shortest pause again.
HEALTHY_SECONDS = 60.0
FIRST_PAUSE, LONGEST_PAUSE = 1.0, 60.0


def supervise(command: list[str]) -> int:
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pause, restarts = FIRST_PAUSE, 0  # pause: the wait after the next quick exit
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = child.wait()
        if code < 0:
            code = 128 - code  # killed by a signal: the shell's way of saying which
        if stopping:
            return code
        lasted = time.monotonic() - started
        wait = FIRST_PAUSE if lasted >= HEALTHY_SECONDS else pause
        pause = min(wait * 2, LONGEST_PAUSE)
        restarts += 1
        print(
            f"supervise: `{' '.join(command)}` exited with code {code} after {lasted:.0f} s; "
            f"starting it again in {wait:.0f} s (restart {restarts})",
            file=sys.stderr,
            flush=True,
        )
        deadline = time.monotonic() + wait
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m config.supervise COMMAND [ARGS...]")
    sys.exit(supervise(sys.argv[1:]))
