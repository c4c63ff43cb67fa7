# The single entry point for humans and CI: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(CURDIR)/$(VENV)/bin:$(TOOLS_BIN):$(PATH)

# Pinned Go-built tools (Collector, Jaeger, helm, linters), cached in .tools/.
include $(wildcard tools/*.mk)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_.-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --editable ".[dev]"
	@# No PostgreSQL on the machine: the pgserver wheel brings one (no root, no Docker).
	@$(PY) -c "from shopctl.postgres import find_bindir; find_bindir()" 2>/dev/null \
		|| $(PY) -m pip install --quiet pgserver
	@touch $@

.PHONY: install
install: $(VENV)/.installed ## Create the virtualenv with the project and its dev tools

.PHONY: run
run: install ## Run PostgreSQL and the three services (order :8000, inventory :8001, pricing :8002)
	shopctl run

.PHONY: lint
lint: install ## ruff (lint and format check) and mypy
	ruff check services tests
	ruff format --check services tests
	mypy

.PHONY: test
test: lint ## The whole suite: lint, types, unit, integration and end-to-end tests
	pytest

.PHONY: format
format: install ## Format and auto-fix the code
	ruff format services tests
	ruff check --fix services tests

.PHONY: clean
clean: ## Remove the virtualenv, local data and caches (not the built tools)
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
