"""Where a service's CPU goes under load: py-spy samples, summed by library and by function.

py-spy reads a running process's Python stacks from outside (ptrace), so the service runs
unmodified; its raw output is one line per distinct stack, `frame;frame;... count`.
"""

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.results import FrameShare, ProfileSummary

# Libraries whose share of samples answers "what limits it". A sample counts for the innermost
# library on its stack (the standard library and native code count for their caller), so the
# shares add up to 100%. Inclusive shares would say little here: the OpenTelemetry ASGI
# middleware and uvicorn sit under every request, so they would be on nearly every stack.
LIBRARIES: dict[str, tuple[str, ...]] = {
    "opentelemetry (spans, metrics, export)": ("/opentelemetry/",),
    "sqlalchemy": ("/sqlalchemy/",),
    "asyncpg": ("/asyncpg/",),
    "httpx + httpcore (calls to other services)": ("/httpx/", "/httpcore/"),
    "pydantic (validation, serialization)": ("/pydantic/", "/pydantic_core/"),
    "fastapi + starlette": ("/fastapi/", "/starlette/"),
    "uvicorn (HTTP server)": ("/uvicorn/",),
    "grpc (OTLP export)": ("/grpc/",),
    "logging": ("/logging/",),
    "the shop's own code": ("/services/",),
}


PATH_PREFIX = re.compile(r"\((?:[^()]*/site-packages/|[^()]*/services/|[^()]*/lib/python3[.\d]*/)")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    return found


def record(pid: int, seconds: float, output: Path, rate: int = 100) -> subprocess.Popen[bytes]:
    """Start sampling `pid` for `seconds` at `rate` Hz; wait() on the result to finish."""
    command = [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--full-filenames",  # so frames can be told apart by library
        "--format",
        "raw",
        "--output",
        str(output),
        # Sampling without pausing the process: slightly torn stacks, but undisturbed timing.
        "--nonblocking",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU of the threads of `pid` so far: `main` (the event loop's), the others
    summed by their name in /proc (`comm`: Python's own threads keep the process's name,
    native ones, such as gRPC's, name themselves)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main" if task.name == str(pid) else (task / "comm").read_text().strip()
            # The fields after the name in parentheses: utime and stime are the 12th and 13th.
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # the thread ended meanwhile
            continue
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


def summarize(raw: Path, top: int = 12) -> ProfileSummary:
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            stacks.append((stack.split(";"), int(number)))
    samples = sum(count for _, count in stacks)
    libraries: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for frames, count in stacks:
        libraries[_innermost_library(frames)] += count
        leaves[frames[-1]] += count

    def share(n: int) -> float:
        return n / samples if samples else 0.0

    return ProfileSummary(
        samples=samples,
        library_shares={name: share(n) for name, n in libraries.most_common()},
        top_self_frames=tuple(
            FrameShare(frame=_short(frame), share=share(n)) for frame, n in leaves.most_common(top)
        ),
    )


def _innermost_library(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in LIBRARIES.items():
            if any(marker in frame for marker in markers):
                return name
    return "other (interpreter start-up, standard library)"


def _short(frame: str) -> str:
    """`func (/long/path/site-packages/lib/mod.py:12)` as `func (lib/mod.py:12)`."""
    return PATH_PREFIX.sub("(", frame)
