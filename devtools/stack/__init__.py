"""The stack on this machine, for `make run`, the tests and the benchmark alike.

- processes: free ports, start / wait healthy / stop, supervision (restart with back-off);
- postgres: a throw-away PostgreSQL cluster at the version the chart runs;
- telemetry: Jaeger, the Collector and Prometheus from the repository's configs;
- services: the three services, on the README's ports or on free ones;
- versions: the pinned versions of versions.env.
"""
