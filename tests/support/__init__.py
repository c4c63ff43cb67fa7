"""What tests import: data factories and readers of the telemetry backends. Fixtures that build
real things (PostgreSQL, the services, the backends) live in the conftest.py files; the
processes themselves start through devtools.stack, as `make run` starts them."""
