# One image for all three services. They are one Python project (one pyproject.toml, one set of
# dependencies, the shared `shopkit` package), so one build serves them all: skaffold builds a
# single artifact and the Helm chart runs it three times with a different command per Deployment,
# e.g. `uvicorn order.main:create_app --factory --host 0.0.0.0 --port 8000`. The migration Job runs
# `shopctl` from the same image, so schema and code always come from the same build.
#
# No `# syntax=` line: it makes BuildKit fetch its Dockerfile frontend from Docker Hub before
# building anything, which fails wherever no registry is reachable (make kind-e2e), and nothing
# here needs more than the frontend built into the engine.

# Both stages must use the same interpreter: the venv built below links to /usr/local/bin/python.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, from pyproject.toml alone: the project has no lock file, and this layer is
# then rebuilt only when the dependency list changes, not on every code change in `skaffold dev`.
# All dependencies ship manylinux wheels, so no compiler is needed in either stage.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt \
 && pip install --no-cache-dir --requirement requirements.txt
COPY README.md ./
COPY services ./services
RUN pip install --no-cache-dir --no-deps .

# The smoke tests of skaffold's verify stage (skaffold.yaml, artifact shop-smoke): the installed
# project plus its dev extras, tests/ and the devtools/ they import (from the working directory).
# A stage of its own, so the service image stays free of test tools and devtools; it comes before
# the runtime stage because a plain `docker build` builds the last one.
FROM build AS smoke
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]))' > requirements-dev.txt \
 && pip install --no-cache-dir --requirement requirements-dev.txt
COPY devtools ./devtools
COPY tests ./tests
USER 10001:10001

FROM ${PYTHON_IMAGE}
# The pod runs with a read-only root filesystem: bytecode was compiled at install time, and no
# new .pyc files are written at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric UID, so Kubernetes can verify runAsNonRoot without resolving a user name.
RUN groupadd --system --gid 10001 shop \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin shop
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz, and Docker's check would only run
# outside Kubernetes. No service is the default either; the Deployment's command picks one.
CMD ["shopctl", "--help"]
