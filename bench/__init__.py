"""`make bench`: the shop's performance measured, see docs/benchmarks.md.

- environment.py: a private stack on free ports (PostgreSQL, services; Jaeger and the Collector
  through shopctl.backends, the launcher of `make run` and the tests);
- results.py: what a run measured, as types (results.json is their dump), and the goals' ratios;
- load.py: the open-loop and closed-loop load generators, and variants taking turns;
- comparisons.py: the issue's four comparisons, measured side by side;
- pipeline.py: span counters of the SDK, the Collector and Jaeger;
- profiling.py: py-spy samples summed by library;
- report.py: the Markdown table and the plots;
- syncshop/: the synchronous baseline (Flask, requests, psycopg, gunicorn);
- intervals.py: `python -m bench.intervals`, the CPU a short metric export interval costs
  (docs/versions.md).
"""
