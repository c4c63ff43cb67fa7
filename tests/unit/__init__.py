import os

# The services opt in to the stable HTTP and database conventions before anything is
# instrumented (shopkit.telemetry); the instrumentations read this once per process, so
# the unit tests, which instrument clients and apps in one process, opt in up front too.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")
