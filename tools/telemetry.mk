# Telemetry backends built with the machine's Go from the Go module proxy at pinned versions.
# Outputs land in the ignored .tools/ folder, so a second run costs nothing.
#
# Bumping a version: change it here (and, for the Collector, every module line in
# collector/builder-config.yaml); the version stamps below make the next `make` rebuild.

# One Collector release for the builder and every module in the manifest. v0.161.0 (core v1.67.0)
# rather than v0.165.x: the tail_sampling processor we switch on later only resolves from the
# module proxy at v0.161.0, and mixing releases in one Collector build does not compile.
OTELCOL_VERSION := 0.161.0
# The Go module v1.76.0 is the Jaeger v2.13.0 release (Jaeger v2 ships from the v1 module path);
# JAEGER_RELEASE is only what `jaeger version` reports.
JAEGER_VERSION  := v1.76.0
JAEGER_RELEASE  := v2.13.0

TOOLS_DIR         ?= $(CURDIR)/.tools
OCB               := $(TOOLS_BIN)/builder
OTELCOL           := $(TOOLS_BIN)/otelcol-shop
JAEGER            := $(TOOLS_BIN)/jaeger
COLLECTOR_MANIFEST := collector/builder-config.yaml
COLLECTOR_CONFIG  := collector/config.yaml
OTELCOL_BUILD_DIR := $(TOOLS_DIR)/otelcol-build

# A stamp named after the pinned version (or the manifest's content) is newer than the binary it
# guards only when that version or manifest changed, so make rebuilds exactly then (the same rule
# as tools/kubernetes.mk: each .mk file stands alone).
STAMPS ?= $(TOOLS_DIR)/stamps
MANIFEST_HASH = $(shell sha256sum $(COLLECTOR_MANIFEST) | cut -c1-16)

$(STAMPS)/%:
	@mkdir -p $(@D) && touch $@

$(OCB): $(STAMPS)/ocb-$(OTELCOL_VERSION)
	@echo ">> go install ocb (collector builder) v$(OTELCOL_VERSION) -> $@"
	GOBIN=$(TOOLS_BIN) go install go.opentelemetry.io/collector/cmd/builder@v$(OTELCOL_VERSION)

# The builder generates main.go + go.mod under OTELCOL_BUILD_DIR and compiles them there; we copy
# only the binary to .tools/bin so PATH holds one name. The check stops a manifest that drifted
# from OTELCOL_VERSION before a long build fails half-way with a module mismatch.
$(OTELCOL): $(STAMPS)/otelcol-manifest-$(MANIFEST_HASH) $(OCB)
	@if grep -E 'gomod: .* v0\.' $(COLLECTOR_MANIFEST) | grep -vq 'v$(OTELCOL_VERSION)$$'; then \
	  echo "$(COLLECTOR_MANIFEST): every v0.x module must be v$(OTELCOL_VERSION)"; exit 1; fi
	@echo ">> building otelcol-shop from $(COLLECTOR_MANIFEST) (several minutes on a cold cache)"
	$(OCB) --config=$(COLLECTOR_MANIFEST) --output-path=$(OTELCOL_BUILD_DIR)
	@mkdir -p $(TOOLS_BIN) && cp $(OTELCOL_BUILD_DIR)/otelcol-shop $@

# `go install jaeger@version` refuses this module because its go.mod has a replace directive, so
# we build it as the main module, straight from its read-only copy in the module cache (go build
# writes only to GOCACHE and -o). The module carries no Jaeger UI assets: /search shows a
# placeholder page, while the query API (/api/...) and Grafana's Jaeger data source work.
JAEGER_MODULE := github.com/jaegertracing/jaeger
JAEGER_LDFLAGS := -X $(JAEGER_MODULE)/internal/version.latestVersion=$(JAEGER_RELEASE)

$(JAEGER): $(STAMPS)/jaeger-$(JAEGER_VERSION)
	@echo ">> building jaeger $(JAEGER_RELEASE) (module $(JAEGER_VERSION)) -> $@ (several minutes on a cold cache)"
	@mkdir -p $(TOOLS_BIN)
	go mod download $(JAEGER_MODULE)@$(JAEGER_VERSION)
	cd "$$(go env GOMODCACHE)/$(JAEGER_MODULE)@$(JAEGER_VERSION)" && \
	  CGO_ENABLED=0 go build -trimpath -ldflags "$(JAEGER_LDFLAGS)" -o $@ ./cmd/jaeger

.PHONY: collector jaeger telemetry-tools
collector: $(OTELCOL) ## Build the Collector (.tools/bin/otelcol-shop) from collector/builder-config.yaml
jaeger: $(JAEGER) ## Build Jaeger v2 (.tools/bin/jaeger)
telemetry-tools: $(OTELCOL) $(JAEGER) ## Build the Collector and Jaeger
