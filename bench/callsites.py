"""`python -m bench.callsites DIR a b`: where telemetry's CPU goes, by call site, per request.

Reads the py-spy stacks `python -m bench.tune --profile DIR` wrote for variants `a` and `b`
and prints, for each service, CPU microseconds per request:

- by **call site** (`caller -> entered`): a sample counts for telemetry when the innermost
  frame that is not the standard library belongs to telemetry (OpenTelemetry, FastAPI's own
  telemetry, shopkit's telemetry modules); it is charged to where telemetry was entered from
  the code around it. So a middleware that wraps a whole request is charged only for its
  own work, not for the request under it. A thread that only exports (the batch span
  processor, the metric reader) is charged to its thread;
- by **function, inclusive** (the functions whose inclusive time moved the most between `a` and
  `b`): what telemetry costs without being in a telemetry frame (event dispatch, a fast path
  SQLAlchemy leaves, garbage collection).

A sample is 10 ms of one thread on CPU (py-spy at 100 Hz, idle threads left out), so
µs per request = samples x 10,000 / requests answered in the profiled round.
"""

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench.profiling import PATH_PREFIX

SAMPLE_US = 10_000  # py-spy at 100 Hz
SERVICES = ("order", "inventory", "pricing")
TELEMETRY = (
    "/opentelemetry/",
    "/fastapi/telemetry/",
    "/shopkit/telemetry.py",
    "/shopkit/db_telemetry.py",
)
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
    """`caller -> entered` for a telemetry sample, else "(not telemetry)"."""
    code = [i for i, f in enumerate(frames) if not _is_stdlib(f)]
    if not code or not _is_telemetry(frames[code[-1]]):
        # A library telemetry calls into (gRPC, protobuf) on a thread that only exports.
        if code and "threading.py" in frames[0] and any(_is_telemetry(f) for f in frames):
            entered = next(f for f in frames if _is_telemetry(f))
            return f"export thread: {frame(entered)}"
        return "(not telemetry)"
    # The outermost frame of the innermost run of telemetry frames, and who called it.
    position = code.index(code[-1])
    while position > 0 and _is_telemetry(frames[code[position - 1]]):
        position -= 1
    entered = frames[code[position]]
    if position == 0:
        return f"thread: {frame(entered)}"
    return f"{frame(frames[code[position - 1]])} -> {frame(entered)}"


def by_call_site(stacks: Stacks) -> Counter[str]:
    sites: Counter[str] = Counter()
    for frames, count in stacks:
        sites[call_site(frames)] += count
    return sites


def inclusive(stacks: Stacks) -> Counter[str]:
    """Samples with each function anywhere on the stack (once per stack)."""
    functions: Counter[str] = Counter()
    for frames, count in stacks:
        for name in {frame(f) for f in frames}:
            functions[name] += count
    return functions


def per_request(samples: Counter[str], requests: int) -> dict[str, float]:
    return {key: n * SAMPLE_US / requests for key, n in samples.items()}


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
    requests = json.loads((folder / "requests.json").read_text())
    out: list[str] = []
    for service in SERVICES:
        paths = [folder / f"{name}-{service}.txt" for name in (first, second)]
        if not all(path.exists() for path in paths):
            continue
        a_stacks, b_stacks = read(paths[0]), read(paths[1])
        total_a = sum(n for _, n in a_stacks) * SAMPLE_US / requests[first]
        total_b = sum(n for _, n in b_stacks) * SAMPLE_US / requests[second]
        out.append(f"\n### {service}: {total_a:.0f} -> {total_b:.0f} µs of CPU per request\n")
        sites_a = per_request(by_call_site(a_stacks), requests[first])
        sites_b = per_request(by_call_site(b_stacks), requests[second])
        keys = sorted(
            set(sites_a) | set(sites_b), key=lambda k: -abs(sites_b.get(k, 0) - sites_a.get(k, 0))
        )
        out += ["By call site:", "", *_rows(sites_a, sites_b, keys[:top], (first, second)), ""]
        functions_a = per_request(inclusive(a_stacks), requests[first])
        functions_b = per_request(inclusive(b_stacks), requests[second])
        keys = sorted(
            set(functions_a) | set(functions_b),
            key=lambda k: -abs(functions_b.get(k, 0) - functions_a.get(k, 0)),
        )
        out += [
            "By function, inclusive:",
            "",
            *_rows(functions_a, functions_b, keys[:top], (first, second)),
        ]
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
