"""`python -m bench`: the benchmark of docs/benchmarks.md (`make bench`).

Runs its own PostgreSQL, Jaeger, Collector and services on free ports, so it never touches a
stack that is already running; writes results.json, results.md and the plots to --out.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench import comparisons, report


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny durations: a smoke run (<2 min)")
    parser.add_argument(
        "--profile", action="store_true", help="also sample each service with py-spy at capacity"
    )
    parser.add_argument("--out", type=Path, default=Path(".run/bench"), help="results folder")
    args = parser.parse_args()
    profile = comparisons.QUICK if args.quick else comparisons.FULL
    args.out.mkdir(parents=True, exist_ok=True)
    started, load_before = time.monotonic(), os.getloadavg()
    results = comparisons.run(profile, args.out, args.profile)
    results["wall_clock_s"] = time.monotonic() - started
    # Anything well above the benchmark's own ~2 means others shared the two cores.
    results["machine"] = {
        "cpus": os.cpu_count(),
        "load_average_1m_before": load_before[0],
        "load_average_1m_after": os.getloadavg()[0],
    }
    comparisons.dump(results, args.out / "results.json")
    table = report.markdown(results)
    (args.out / "results.md").write_text(table)
    report.plots(results, args.out)
    print(table)
    print(json.dumps({k: v["value"] for k, v in results["ratios"].items()}, indent=2))
    print(f"results in {args.out}/ after {results['wall_clock_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
