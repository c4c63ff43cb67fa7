# Telemetry backends built with the machine's Go from the Go module proxy, at the versions pinned
# in versions.env (the list the chart's image tags are checked against). Outputs land in the
# ignored .tools/ folder, so a second run costs nothing.
#
# Bumping a version: change versions.env (and, for the Collector, every module line in
# collector/builder-config.yaml); the version stamps below make the next `make` rebuild.
include versions.env

TOOLS_DIR         ?= $(CURDIR)/.tools
OCB               := $(TOOLS_BIN)/builder
OTELCOL           := $(TOOLS_BIN)/otelcol-shop
JAEGER            := $(TOOLS_BIN)/jaeger
PROMETHEUS        := $(TOOLS_BIN)/prometheus
PROMTOOL          := $(TOOLS_BIN)/promtool
COLLECTOR_MANIFEST := collector/builder-config.yaml
COLLECTOR_CONFIG  := collector/config.yaml
OTELCOL_BUILD_DIR := $(TOOLS_DIR)/otelcol-build
BUILD_LOGS        := $(TOOLS_DIR)/logs
# One line per step, a heartbeat every 30 s, the go output in a log (shown when a step fails).
STEP              := tools/step

# A stamp named after the pinned version (or the manifest's content) is newer than the binary it
# guards only when that version or manifest changed, so make rebuilds exactly then (the same rule
# as tools/kubernetes.mk: each .mk file stands alone).
STAMPS ?= $(TOOLS_DIR)/stamps
MANIFEST_HASH = $(shell sha256sum $(COLLECTOR_MANIFEST) | cut -c1-16)

$(STAMPS)/%:
	@mkdir -p $(@D) && touch $@

# Go modules whose go.mod has replace directives cannot be `go install`ed (Jaeger, Prometheus):
# build them as the main module, straight from their read-only copy in the module cache (go
# build writes only to GOCACHE and -o). Both module paths are lower case, so their folder in the
# cache is GOMODCACHE/<path>@<version> as written (tools/kubernetes.mk's go_module_dir asks go
# for the folder, which also handles the cache's escaping of capitals).

$(OCB): $(STAMPS)/ocb-$(OTELCOL_VERSION)
	@$(STEP) $(BUILD_LOGS)/ocb.log "go install ocb (collector builder) v$(OTELCOL_VERSION)" \
	  "under 1 min on a cold cache, 2 cores" -- \
	  env GOBIN=$(TOOLS_BIN) go install go.opentelemetry.io/collector/cmd/builder@v$(OTELCOL_VERSION)

# The builder generates main.go + go.mod under OTELCOL_BUILD_DIR and compiles them there; we copy
# only the binary to .tools/bin so PATH holds one name. The check stops a manifest that drifted
# from OTELCOL_VERSION before a long build fails half-way with a module mismatch.
$(OTELCOL): $(STAMPS)/otelcol-manifest-$(MANIFEST_HASH) $(OCB)
	@if grep -E 'gomod: .* v0\.' $(COLLECTOR_MANIFEST) | grep -vq 'v$(OTELCOL_VERSION)$$'; then \
	  echo "$(COLLECTOR_MANIFEST): every v0.x module must be v$(OTELCOL_VERSION) (versions.env)"; exit 1; fi
	@$(STEP) $(BUILD_LOGS)/collector.log "building the Collector $(OTELCOL_VERSION) (otelcol-shop)" \
	  "about 3 min on a cold cache, 2 cores" -- \
	  $(OCB) --config=$(COLLECTOR_MANIFEST) --output-path=$(OTELCOL_BUILD_DIR)
	@mkdir -p $(TOOLS_BIN) && cp $(OTELCOL_BUILD_DIR)/otelcol-shop $@

# The module carries no Jaeger UI assets: /search shows a placeholder page, while the query API
# (/api/...) and Grafana's Jaeger data source work; `python -m devtools traces show` draws a
# trace instead.
JAEGER_MODULE := github.com/jaegertracing/jaeger
JAEGER_LDFLAGS := -X $(JAEGER_MODULE)/internal/version.latestVersion=v$(JAEGER_VERSION)

$(JAEGER): $(STAMPS)/jaeger-$(JAEGER_MODULE_VERSION)
	@mkdir -p $(TOOLS_BIN)
	@$(STEP) $(BUILD_LOGS)/jaeger.log "building Jaeger $(JAEGER_VERSION) (module $(JAEGER_MODULE_VERSION))" \
	  "about 3 min on a cold cache, 2 cores" -- bash -c '\
	  go mod download $(JAEGER_MODULE)@$(JAEGER_MODULE_VERSION) && \
	  cd "$$(go env GOMODCACHE)/$(JAEGER_MODULE)@$(JAEGER_MODULE_VERSION)" && \
	  CGO_ENABLED=0 go build -trimpath -ldflags "$(JAEGER_LDFLAGS)" -o $@ ./cmd/jaeger'

# Prometheus and promtool of the chart's release, so the alert rules' unit tests and every
# dashboard query run against the PromQL the cluster runs. The version they report is the one the
# module's own VERSION file names, set as upstream's release build (promu) sets it, and checked
# against versions.env first. Like Jaeger's, the module has no UI assets (they are an npm build):
# the HTTP API answers, the web UI does not.
PROMETHEUS_MODULE := github.com/prometheus/prometheus
PROMETHEUS_LDFLAGS := -X github.com/prometheus/common/version.Version=$$(cat VERSION)

$(PROMETHEUS): $(STAMPS)/prometheus-$(PROMETHEUS_MODULE_VERSION)
	@mkdir -p $(TOOLS_BIN)
	@$(STEP) $(BUILD_LOGS)/prometheus.log "building Prometheus $(PROMETHEUS_VERSION) and promtool (module $(PROMETHEUS_MODULE_VERSION))" \
	  "about 4 min on a cold cache, 2 cores" -- bash -c '\
	  go mod download $(PROMETHEUS_MODULE)@$(PROMETHEUS_MODULE_VERSION) && \
	  cd "$$(go env GOMODCACHE)/$(PROMETHEUS_MODULE)@$(PROMETHEUS_MODULE_VERSION)" && \
	  { [[ $$(cat VERSION) == $(PROMETHEUS_VERSION) ]] || \
	    { echo "module $(PROMETHEUS_MODULE_VERSION) is Prometheus $$(cat VERSION), not $(PROMETHEUS_VERSION) (versions.env)"; exit 1; }; } && \
	  CGO_ENABLED=0 go build -trimpath -ldflags "$(PROMETHEUS_LDFLAGS)" -o $(TOOLS_BIN)/ ./cmd/prometheus ./cmd/promtool'

$(PROMTOOL): $(PROMETHEUS)

.PHONY: collector jaeger prometheus telemetry-tools
collector: $(OTELCOL) ## Build the Collector (.tools/bin/otelcol-shop) from collector/builder-config.yaml
jaeger: $(JAEGER) ## Build Jaeger v2 (.tools/bin/jaeger)
prometheus: $(PROMETHEUS) ## Build Prometheus 3 and promtool (.tools/bin)
telemetry-tools: $(OTELCOL) $(JAEGER) $(PROMETHEUS) ## Build the Collector, Jaeger and Prometheus
