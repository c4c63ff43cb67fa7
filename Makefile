# The single entry point for humans and CI: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(CURDIR)/$(VENV)/bin:$(TOOLS_BIN):$(PATH)

# Pinned Go-built tools (Collector, Jaeger, helm, linters), cached in .tools/.
include $(wildcard tools/*.mk)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_.-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'
