"""`make bench`: the shop's performance measured, see docs/benchmarks.md.

- environment.py: what the benchmark adds to devtools.stack (the launcher of `make run` and the
  tests): its data, its telemetry variants, CPU accounting and the sync baseline's command;
- load.py: the open-loop and closed-loop load generators and their statistics;
- comparisons.py: the issue's four comparisons, measured side by side, and their ratios;
- pipeline.py: span counters of the SDK, the Collector and Jaeger;
- profiling.py: py-spy samples summed by library;
- report.py: the Markdown table and the plots;
- syncshop/: the synchronous baseline (Flask, requests, psycopg, gunicorn);
- intervals.py: `python -m bench.intervals`, the CPU a short metric export interval costs
  (docs/versions.md).
"""
