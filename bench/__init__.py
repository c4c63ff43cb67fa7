"""`make bench`: the shop's performance measured, see docs/benchmarks.md.

- environment.py: what the benchmark adds to devtools.stack (the launcher of `make run` and the
  tests): its data, its telemetry variants, CPU accounting and the sync baseline's command;
- results.py: what a run measured, as types (results.json is their dump), and the goals' ratios;
- load.py: the open-loop and closed-loop load generators, and variants taking turns;
- comparisons.py: the issue's four comparisons, measured side by side;
- pipeline.py: span counters of the SDK, the Collector and Jaeger;
- profiling.py: py-spy samples summed by library;
- report.py: the Markdown table and the plots;
- syncshop/: the synchronous baseline (Flask, requests, psycopg, gunicorn);
- floor.py and floorshop/: `python -m bench.floor`, the same work with nothing in the way;
- tune.py: `python -m bench.tune`, configuration or code variants side by side;
- intervals.py: `python -m bench.intervals`, the CPU a short metric export interval costs
  (docs/versions.md);
- callsites.py: `python -m bench.callsites`, two variants' py-spy profiles compared by call site;
- openloop.py: an open-loop generator cheap enough to overload a service on the same machine;
- overload.py: `python -m bench.overload`, spikes with and without admission control (also the
  last comparison of `make bench`);
- refusal.py and floorshop/refuser.py: `python -m bench.refusal`, what a refusal costs uvicorn
  alone.
"""
