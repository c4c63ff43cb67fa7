"""`python -m bench`: the benchmark of docs/benchmarks.md (`make bench`).

Runs its own PostgreSQL, Jaeger, Collector and services on free ports, so it never touches a
stack that is already running; writes results.json, results.md and the plots to --out.
"""

import argparse
import json
import sys
from pathlib import Path

from bench import comparisons, report, results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny durations: a smoke run (~2 min)")
    parser.add_argument(
        "--profile", action="store_true", help="also sample each service with py-spy at capacity"
    )
    parser.add_argument("--out", type=Path, default=Path(".run/bench"), help="results folder")
    args = parser.parse_args()
    size = comparisons.QUICK if args.quick else comparisons.FULL
    args.out.mkdir(parents=True, exist_ok=True)
    run = comparisons.run(size, args.out, with_profiles=args.profile)
    (args.out / "results.json").write_text(results.to_json(run))
    table = report.markdown(run)
    (args.out / "results.md").write_text(table)
    report.plots(run, args.out)
    print(table)
    print(json.dumps({name: r.value for name, r in results.ratios(run).items()}, indent=2))
    print(f"results in {args.out}/ after {run.wall_clock_s:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
