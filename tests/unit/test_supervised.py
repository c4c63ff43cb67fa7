"""`make run` restarts a service that exits, with a log line and a growing back-off."""

import subprocess
import sys
import time

from devtools.stack.processes import Supervised, wait_for


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_killed_process_is_restarted_after_a_doubling_back_off() -> None:
    lines: list[str] = []
    service = Supervised("order", _sleeper, lines.append, min_backoff=0.2, max_backoff=0.4)
    try:
        for restart in (1, 2, 3):
            killed = service.process
            killed.kill()
            killed.wait()
            started = time.monotonic()

            def restarted(expected: int = restart) -> bool:
                service.poll()
                return service.restarts == expected

            wait_for(f"restart {restart}", restarted, timeout=5)
            assert service.process is not killed and service.process.poll() is None
            assert time.monotonic() - started >= 0.2
        # Doubled after each quick exit, capped at max_backoff.
        assert lines == [
            "order: exited (killed by SIGKILL); restarting in 0.2s",
            "order: restarted (restart 1)",
            "order: exited (killed by SIGKILL); restarting in 0.4s",
            "order: restarted (restart 2)",
            "order: exited (killed by SIGKILL); restarting in 0.4s",
            "order: restarted (restart 3)",
        ]
    finally:
        service.stop()
    assert service.process.poll() is not None
