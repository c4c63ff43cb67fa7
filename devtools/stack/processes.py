"""Local processes: free ports, start, wait until healthy, stop, and restart when one exits.

The one implementation of each, under every process of the local stack (`make run`), the tests
and the benchmark: PostgreSQL aside (pg_ctl starts and waits for it), everything is started by
`start`, awaited by `wait_healthy` and stopped by `stop`.
"""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

HOST = "127.0.0.1"
T = TypeVar("T")


def free_port() -> int:
    """A port the kernel has just handed out on loopback, so nothing else holds it."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different ports the kernel has just handed out on loopback. All are held until
    the last is taken: one at a time, the kernel may hand out a port it gave a moment ago and
    that no process listens on yet (two listeners of one stack then collided)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket())
            s.bind((HOST, 0))
            ports.append(s.getsockname()[1])
        return ports


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.25
) -> T:
    """Poll `probe` until it returns something truthy, and return that; TimeoutError naming
    `what` at the deadline. A probe may raise to stop waiting early (a process that died)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def answers(url: str) -> bool:
    """Whether `url` answers 200 right now."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start(
    argv: Sequence[str],
    log: Path,
    env: dict[str, str] | None = None,
    *,
    own_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `argv` with stdout and stderr appended to `log`; `env` is added to ours.

    own_session: in a session of its own, so a Ctrl-C reaches only us (whose teardown then
    stops it in order), and killed with us should we be killed first.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
            preexec_fn=_die_with_parent if own_session else None,
        )


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: SIGTERM to the child when its parent dies.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def wait_healthy(
    name: str, process: subprocess.Popen[bytes], health_url: str, timeout: float = 60.0
) -> None:
    """Poll `health_url` until it answers 200; fail at once if the process exits first."""

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited ({exit_reason(process.returncode)})")
        return answers(health_url)

    wait_for(f"{name} to answer {health_url}", healthy, timeout)


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; nothing if it is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def exit_reason(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"status {code}"


class Supervised:
    """A process kept running as Kubernetes keeps a pod: restarted when it exits, after a
    back-off that doubles on every exit soon after a start (up to `max_backoff`) and is
    forgiven once the process has run `stable_after` seconds."""

    def __init__(
        self,
        name: str,
        start: Callable[[], subprocess.Popen[bytes]],
        log: Callable[[str], None],
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.name = name
        self._start = start
        self._log = log
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after
        self._backoff = min_backoff
        self._restart_at: float | None = None
        self.restarts = 0
        self.process = start()
        self._started = time.monotonic()

    def poll(self) -> None:
        """Restart the process if it exited and its back-off is over; call it periodically."""
        now = time.monotonic()
        if self._restart_at is not None:
            if now >= self._restart_at:
                self._restart_at = None
                self.process = self._start()
                self._started = now
                self.restarts += 1
                self._log(f"{self.name}: restarted (restart {self.restarts})")
            return
        code = self.process.poll()
        if code is None:
            return
        if now - self._started >= self._stable_after:
            self._backoff = self._min_backoff
        delay = self._backoff
        self._backoff = min(self._backoff * 2, self._max_backoff)
        self._restart_at = now + delay
        self._log(f"{self.name}: exited ({exit_reason(code)}); restarting in {delay:g}s")

    def stop(self) -> None:
        self._restart_at = None
        stop(self.process)
