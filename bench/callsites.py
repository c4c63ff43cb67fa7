"""`python -m bench.callsites DIR a b`: where telemetry's CPU goes, by call site, per request.

Reads the py-spy stacks `python -m bench.tune --profile DIR` wrote for variants `a` and `b`
and prints, for each service, CPU microseconds per request:

- by **call site** (`caller -> entered`): a sample counts for telemetry when the innermost
  frame that is not the standard library belongs to telemetry (OpenTelemetry, FastAPI's own
  telemetry, shopkit's telemetry modules); it is charged to where telemetry was entered from
  the code around it. So a middleware that wraps a whole request is charged only for its
  own work, not for the request under it. A thread that only exports (the batch span
  processor, the metric reader) is charged to its thread;
- by **function, self** (the innermost frame that is not the standard library): what
  telemetry costs without being in a telemetry frame (event dispatch, garbage collection,
  a fast path a library leaves).

py-spy samples a thread that is not idle, and on a loaded machine a thread waiting for a
core is not idle: samples measure time on or waiting for a CPU, not CPU. So each service's
samples are scaled to the CPU its threads used in the same round (/proc, `threads.json`):
µs per request = samples x (CPU of the round / samples of the round) / requests answered.
"""

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench.profiling import PATH_PREFIX

SERVICES = ("order", "inventory", "pricing")
TELEMETRY = (
    "/opentelemetry/",
    "/fastapi/telemetry/",
    "/shopkit/telemetry.py",
    "/shopkit/db_telemetry.py",
    "/shopkit/http_telemetry.py",
    "/shopkit/server_telemetry.py",
    "/shopkit/server_metrics.py",
    "/shopkit/trace_boundary.py",
)
# Code that telemetry wraps rather than calls for itself: the shop, the framework's request
# path under a server telemetry middleware, the transport under a client's.
WRAPPED = ("/services/", "/starlette/", "/fastapi/", "/uvicorn/", "/aiohttp/")
# Frames that count for their caller: the standard library, and the native code py-spy names
# without a Python file.
_STDLIB = re.compile(r"/lib/python3[.\d]*/(?!site-packages/)")
_LINE = re.compile(r":\d+\)$")

Stacks = list[tuple[list[str], int]]


def read(raw: Path) -> Stacks:
    stacks: Stacks = []
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            stacks.append((stack.split(";"), int(number)))
    return stacks


def frame(text: str) -> str:
    """`func (/long/site-packages/lib/mod.py:12)` as `func (lib/mod.py)`."""
    return _LINE.sub(")", PATH_PREFIX.sub("(", text))


def _is_telemetry(text: str) -> bool:
    return any(marker in text for marker in TELEMETRY)


def _is_stdlib(text: str) -> bool:
    return bool(_STDLIB.search(text)) or "(" not in text


def call_site(frames: list[str]) -> str:
    """`caller -> entered` for a telemetry sample, else "(not telemetry)".

    A sample is telemetry's when telemetry is on its stack and the frames under the innermost
    telemetry frame are not the work it wraps: neither the shop's own code nor the framework's
    request path (a middleware's `app(...)`, an instrumented client's transport). So what
    telemetry calls for itself (httpx's URL parser, the standard library) counts for it."""
    marks = [i for i, f in enumerate(frames) if _is_telemetry(f)]
    if not marks:
        return "(not telemetry)"
    if any(_is_wrapped_work(f) for f in frames[marks[-1] + 1 :]):
        return "(not telemetry)"
    code = [i for i, f in enumerate(frames) if not _is_stdlib(f)]
    # The outermost frame of the innermost run of telemetry frames, and who called it.
    position = code.index(marks[-1])
    while position > 0 and _is_telemetry(frames[code[position - 1]]):
        position -= 1
    entered = frames[code[position]]
    if position == 0 or ("threading.py" in frames[0] and position == code.index(marks[0])):
        return f"thread: {frame(entered)}"
    return f"{frame(frames[code[position - 1]])} -> {frame(entered)}"


def _is_wrapped_work(text: str) -> bool:
    return any(marker in text for marker in WRAPPED) and not _is_telemetry(text)


def by_call_site(stacks: Stacks) -> Counter[str]:
    sites: Counter[str] = Counter()
    for frames, count in stacks:
        sites[call_site(frames)] += count
    return sites


def self_code(stacks: Stacks) -> Counter[str]:
    """Samples by their innermost frame outside the standard library."""
    functions: Counter[str] = Counter()
    for frames, count in stacks:
        code = [f for f in frames if not _is_stdlib(f)]
        functions[frame(code[-1]) if code else "(standard library only)"] += count
    return functions


def per_request(samples: Counter[str], cpu_us_per_request: float) -> dict[str, float]:
    """Each key's share of the samples, as CPU µs per request."""
    total = sum(samples.values()) or 1
    return {key: cpu_us_per_request * n / total for key, n in samples.items()}


def _rows(
    a: dict[str, float], b: dict[str, float], keys: Iterable[str], names: tuple[str, str]
) -> list[str]:
    lines = [
        f"| | {names[0]} µs/request | {names[1]} µs/request | difference |",
        "|---|---|---|---|",
    ]
    for key in keys:
        x, y = a.get(key, 0.0), b.get(key, 0.0)
        lines.append(f"| `{key}` | {x:.0f} | {y:.0f} | {y - x:+.0f} |")
    return lines


def compare(folder: Path, first: str, second: str, top: int) -> str:
    # CPU µs per request of each variant's services in the profiled round, all threads.
    threads = json.loads((folder / "threads.json").read_text())
    out: list[str] = []
    for service in SERVICES:
        paths = [folder / f"{name}-{service}.txt" for name in (first, second)]
        if not all(path.exists() for path in paths):
            continue
        cpu = [sum(threads[name][service].values()) for name in (first, second)]
        stacks = [read(path) for path in paths]
        out.append(f"\n### {service}: {cpu[0]:.0f} -> {cpu[1]:.0f} µs of CPU per request\n")
        for title, count in (("By call site", by_call_site), ("By function, self", self_code)):
            a, b = (per_request(count(s), c) for s, c in zip(stacks, cpu, strict=True))
            keys = sorted(set(a) | set(b), key=lambda k: -abs(b.get(k, 0) - a.get(k, 0)))
            out += [f"{title}:", "", *_rows(a, b, keys[:top], (first, second)), ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.callsites", description=__doc__)
    parser.add_argument("folder", type=Path, help="the --profile folder of bench.tune")
    parser.add_argument("first", help="a variant (the reference)")
    parser.add_argument("second", help="another variant of the same run")
    parser.add_argument("--top", type=int, default=15, help="rows per table")
    args = parser.parse_args()
    print(compare(args.folder, args.first, args.second, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
