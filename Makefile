# The single entry point for humans and CI: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(CURDIR)/$(VENV)/bin:$(TOOLS_BIN):$(PATH)

# Pinned tools (Collector, Jaeger, Prometheus, ORY Hydra, PostgreSQL, helm, linters; versions.env names the
# stack's versions), cached in .tools/.
include $(wildcard tools/*.mk)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@echo ">> creating $(VENV) with the project and its dev tools (usually 1-2 min the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --editable ".[dev]"
	@touch $@

.PHONY: install
install: $(VENV)/.installed ## Create the virtualenv with the project and its dev tools

.PHONY: run
run: install telemetry-tools hydra postgres-server ## Run PostgreSQL, Jaeger, the Collector, Prometheus, ORY Hydra and the three services
	$(PY) -m devtools run

.PHONY: lint
lint: install ## ruff (lint and format check) and mypy
	ruff check services devtools tests load bench
	ruff format --check services devtools tests load bench
	mypy

.PHONY: test
test: lint telemetry-tools hydra postgres-server k8s-tools k8s-e2e-tools ## Everything: lint, types, all tests (the chart on a real API server too), chart and manifest validation
	pytest
	$(MAKE) --no-print-directory k8s-validate

# The chart on a real control plane (tests/k8s, also part of `make test`): see README, "The chart
# on a real API server".
.PHONY: k8s-e2e
k8s-e2e: install k8s-e2e-tools ## Only the chart on a real API server: admission, hooks, upgrade, uninstall, NetworkPolicies
	pytest tests/k8s -p no:cacheprovider

# The chart on a real kind cluster, on this machine, without a registry (tests/kind/run; README,
# "Run on kind"). Root: it starts a Docker engine in a network namespace of its own.
.PHONY: kind-e2e
kind-e2e: install kind-tools telemetry-tools hydra postgres-server ## The used-by path for real: images, kind, skaffold run and verify, helm test, port-forwards, teardown
	NODE_KUBERNETES_VERSION=$(KUBE_CONTROL_PLANE_VERSION) KIND_VERSION=$(KIND_VERSION) \
	  LOCAL_PATH_PROVISIONER_VERSION=$(LOCAL_PATH_PROVISIONER_VERSION) \
	  KUBE_ROUTER_VERSION=$(KUBE_ROUTER_VERSION) tests/kind/run

# The local stack by default; a port-forwarded cluster by setting the URLs (see README).
SHOP_BASE_URL  ?= http://127.0.0.1:8000
JAEGER_URL     ?= http://127.0.0.1:16686
PROMETHEUS_URL ?= http://127.0.0.1:9090

# `make load` and `make traces`: traffic through a running stack, then what its traces say.
USERS       ?= 20
SPAWN       ?= 5
DURATION    ?= 2m
SINCE       ?= 15m
PRICING_URL ?= http://127.0.0.1:8002

$(VENV)/.load-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet --editable ".[load]"
	@touch $@

.PHONY: load
load: $(VENV)/.load-installed ## Drive a shop-like mix of traffic through a running stack (locust)
	PRICING_URL=$(PRICING_URL) locust -f load/locustfile.py --headless --host $(SHOP_BASE_URL) \
		--users $(USERS) --spawn-rate $(SPAWN) --run-time $(DURATION) --only-summary

.PHONY: traces
traces: install ## Slowest traces, N+1 queries, sequential calls and error origins from Jaeger
	JAEGER_URL=$(JAEGER_URL) $(PY) -m devtools traces analyze --since $(SINCE)

.PHONY: bench
bench: install telemetry-tools hydra postgres-server ## Benchmark on a private stack (free ports): results in .run/bench, see docs/benchmarks.md
	$(PY) -m bench --profile --out .run/bench

.PHONY: soak
soak: install hydra postgres-server ## Crash soak on a private stack: kill -9 and PostgreSQL restarts for DURATION, then the invariants
	$(PY) -m tests.soak --duration $(DURATION)

.PHONY: smoke
smoke: install ## Smoke-test a running stack: an order, its trace in Jaeger, its metrics in Prometheus
	SHOP_BASE_URL=$(SHOP_BASE_URL) JAEGER_URL=$(JAEGER_URL) PROMETHEUS_URL=$(PROMETHEUS_URL) \
		pytest tests/smoke -p no:cacheprovider

.PHONY: format
format: install ## Format and auto-fix the code
	ruff format services devtools tests load bench
	ruff check --fix services devtools tests load bench

.PHONY: clean
clean: ## Remove the virtualenv, local data and caches (not the built tools)
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
