"""The tools around the product, never in its image: they start, measure and analyse it.

- stack/: one process layer (free ports, start / wait healthy / stop, PostgreSQL, the
  Collector, Jaeger, Prometheus, the services), used by `make run`, the tests and the benchmark;
- traces/: what the traces in Jaeger say (`make traces`);
- cli.py: `python -m devtools run` and `python -m devtools traces ...`.
"""
