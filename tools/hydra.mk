# ORY Hydra, the OpenID Connect provider the local stack and the tests run (devtools/stack/hydra.py),
# built with the machine's Go from the module proxy at HYDRA_VERSION (versions.env), into the
# ignored .tools/ folder: about 4 min on a cold cache, 2 cores, then nothing.
#
# Two things keep it from a plain `go install`: its go.mod has replace directives, and one of them
# points at a nested module (./internal/httpclient) that the published module zip leaves out. So
# it is built from a writable copy of the module, with that one replace dropped: the copy then uses
# the published github.com/ory/hydra-client-go/v2 at the version its go.mod requires (only the
# CLI's client commands import it; the server does not). The sqlite tag adds the in-memory store
# (DSN=memory) the local stack runs on, which needs cgo.
include versions.env

TOOLS_DIR       ?= $(CURDIR)/.tools
HYDRA           := $(TOOLS_BIN)/hydra
HYDRA_MODULE    := github.com/ory/hydra/v2
HYDRA_BUILD_DIR := $(TOOLS_DIR)/hydra-build
HYDRA_LDFLAGS   := -X $(HYDRA_MODULE)/driver/config.Version=v$(HYDRA_VERSION)
STAMPS          ?= $(TOOLS_DIR)/stamps

$(STAMPS)/%:
	@mkdir -p $(@D) && touch $@

$(HYDRA): $(STAMPS)/hydra-$(HYDRA_VERSION)
	@mkdir -p $(TOOLS_BIN)
	@tools/step $(TOOLS_DIR)/logs/hydra.log "building ORY Hydra $(HYDRA_VERSION)" \
	  "about 4 min on a cold cache, 2 cores" -- bash -c '\
	  set -e; go mod download $(HYDRA_MODULE)@v$(HYDRA_VERSION); \
	  rm -rf $(HYDRA_BUILD_DIR); \
	  cp -r "$$(go env GOMODCACHE)/$(HYDRA_MODULE)@v$(HYDRA_VERSION)" $(HYDRA_BUILD_DIR); \
	  chmod -R u+w $(HYDRA_BUILD_DIR); cd $(HYDRA_BUILD_DIR); \
	  go mod edit -dropreplace=github.com/ory/hydra-client-go/v2; \
	  CGO_ENABLED=1 go build -mod=mod -trimpath -tags sqlite,sqlite_omit_load_extension \
	    -ldflags "$(HYDRA_LDFLAGS)" -o $@ .; \
	  rm -rf $(HYDRA_BUILD_DIR)'

.PHONY: hydra
hydra: $(HYDRA) ## Build ORY Hydra, the local OpenID Connect provider (.tools/bin/hydra)
