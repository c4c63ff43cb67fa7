# What a kind node runs, built here with the machine's Go from the Go module proxy, since no image
# registry is reachable (`make kind-e2e`, README "Run on kind"): the pieces of kind's own base
# image (images/base/Dockerfile of the kind module: containerd, runc, crictl, the CNI plugins), the
# node's Kubernetes binaries and the images kubeadm and kind expect (etcd, CoreDNS, pause,
# local-path-provisioner), plus kube-router, which enforces NetworkPolicies in place of kindnet
# (the proxy refuses kindnet). tools/kind/images assembles the images from these.
#
# Versions: the ones kind v0.33.0 pins (its base Dockerfile and node image), and the Kubernetes
# release `make k8s-e2e` already builds (KUBE_CONTROL_PLANE_VERSION, tools/kubernetes.mk).
CONTAINERD_VERSION            := v2.3.4
RUNC_VERSION                  := v1.4.3
CRICTL_VERSION                := v1.36.0
CNI_PLUGINS_VERSION           := v1.9.1
# What kubeadm v1.37.2 deploys (`kubeadm config images list`), so the cluster needs no image
# overrides: CoreDNS v1.14.6 and etcd 3.7.0.
COREDNS_VERSION               := v1.14.6
NODE_ETCD_VERSION             := v3.7.0
LOCAL_PATH_PROVISIONER_VERSION := v0.0.30
# Not kube-network-policies (what kindnet embeds): it queues packets with nftables' `queue`, which
# the kernel of the machines `make kind-e2e` runs on lacks (CONFIG_NFT_QUEUE unset: "netlink
# receive: no such file or directory", and every flow stays open). kube-router's firewall uses
# iptables and ipset. v2.1.0 is the newest the Go module proxy serves.
KUBE_ROUTER_VERSION           := v2.1.0

# Node-side binaries: copied into images, never run on this machine (but kubectl, linked into
# .tools/bin for the clients).
NODE_BIN := $(TOOLS_DIR)/kind-node/bin
KUBE_NODE_BINARIES := $(addprefix $(NODE_BIN)/,kubelet kubeadm kubectl kube-proxy)
CONTAINERD_BINARIES := $(addprefix $(NODE_BIN)/,containerd containerd-shim-runc-v2 ctr)
CNI_PLUGINS := host-local loopback ptp portmap
KIND_NODE_BINARIES := $(KUBE_NODE_BINARIES) $(CONTAINERD_BINARIES) $(NODE_BIN)/runc $(NODE_BIN)/crictl \
  $(addprefix $(NODE_BIN)/cni/,$(CNI_PLUGINS)) $(NODE_BIN)/etcd $(NODE_BIN)/coredns $(NODE_BIN)/local-path-provisioner \
  $(NODE_BIN)/kube-router $(NODE_BIN)/pause
KUBECTL := $(TOOLS_BIN)/kubectl

# Static Go binaries: the images they go into have no Go runtime dependencies to satisfy.
NODE_GO := CGO_ENABLED=0 GOFLAGS=-trimpath nice go

# The same throw-away module as the control plane (tools/kubernetes.mk), one more go build.
$(KUBE_NODE_BINARIES) &: $(STAMPS)/kubernetes-$(KUBE_CONTROL_PLANE_VERSION) $(KUBE_BUILD_MODULE)/go.mod
	@mkdir -p $(NODE_BIN)
	@tools/step $(TOOLS_DIR)/logs/kubernetes-node.log "building kubelet, kubeadm, kubectl, kube-proxy $(KUBE_CONTROL_PLANE_VERSION)" \
	  "about 6 min on a cold cache, 2 cores" -- bash -c 'cd $(KUBE_BUILD_MODULE) && GOFLAGS=-mod=mod CGO_ENABLED=0 nice go build -trimpath \
	    -ldflags "$(KUBE_VERSION_LDFLAGS)" -o $(NODE_BIN)/ \
	    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-proxy'
	@touch $(KUBE_NODE_BINARIES)

$(KUBECTL): $(NODE_BIN)/kubectl
	@mkdir -p $(@D) && ln -sf $< $@

# The build tags kind's base image uses: no optional snapshotters.
$(CONTAINERD_BINARIES) &: $(STAMPS)/containerd-$(CONTAINERD_VERSION)
	@tools/step $(TOOLS_DIR)/logs/containerd.log "building containerd $(CONTAINERD_VERSION)" "about 3 min, 2 cores" -- \
	  env GOBIN=$(NODE_BIN) $(NODE_GO) install -tags 'no_aufs no_zfs no_btrfs no_devmapper' \
	    -ldflags '-s -w -X github.com/containerd/containerd/v2/version.Version=$(CONTAINERD_VERSION)' \
	    github.com/containerd/containerd/v2/cmd/containerd@$(CONTAINERD_VERSION) \
	    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$(CONTAINERD_VERSION) \
	    github.com/containerd/containerd/v2/cmd/ctr@$(CONTAINERD_VERSION)
	@touch $(CONTAINERD_BINARIES)

# runc needs cgo (its nsenter is C) and libseccomp (the `seccomp` tag: the chart's pods ask for the
# RuntimeDefault profile); linked against the libseccomp2 of the node's Debian.
$(NODE_BIN)/runc: $(STAMPS)/runc-$(RUNC_VERSION)
	@tools/step $(TOOLS_DIR)/logs/runc.log "building runc $(RUNC_VERSION)" "about 1 min" -- \
	  env GOBIN=$(NODE_BIN) CGO_ENABLED=1 GOFLAGS=-trimpath nice go install -tags 'seccomp urfave_cli_no_docs' \
	    -ldflags '-s -w -X main.version=$(RUNC_VERSION:v%=%)' github.com/opencontainers/runc@$(RUNC_VERSION)

$(NODE_BIN)/crictl: $(STAMPS)/crictl-$(CRICTL_VERSION)
	GOBIN=$(NODE_BIN) $(NODE_GO) install -ldflags '-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$(CRICTL_VERSION)' \
	  sigs.k8s.io/cri-tools/cmd/crictl@$(CRICTL_VERSION)

$(addprefix $(NODE_BIN)/cni/,$(CNI_PLUGINS)) &: $(STAMPS)/cni-plugins-$(CNI_PLUGINS_VERSION)
	GOBIN=$(NODE_BIN)/cni $(NODE_GO) install -ldflags '-s -w' \
	  github.com/containernetworking/plugins/plugins/main/ptp@$(CNI_PLUGINS_VERSION) \
	  github.com/containernetworking/plugins/plugins/ipam/host-local@$(CNI_PLUGINS_VERSION) \
	  github.com/containernetworking/plugins/plugins/main/loopback@$(CNI_PLUGINS_VERSION) \
	  github.com/containernetworking/plugins/plugins/meta/portmap@$(CNI_PLUGINS_VERSION)
	@touch $(addprefix $(NODE_BIN)/cni/,$(CNI_PLUGINS))

# As the control plane's etcd (tools/kubernetes.mk): a module of ours requires the server module.
NODE_ETCD_BUILD_MODULE := $(TOOLS_DIR)/build/etcd-$(NODE_ETCD_VERSION)
$(NODE_BIN)/etcd: $(STAMPS)/etcd-$(NODE_ETCD_VERSION)
	@mkdir -p $(NODE_ETCD_BUILD_MODULE) $(@D)
	printf 'module shop.local/etcd-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' $(NODE_ETCD_VERSION) > $(NODE_ETCD_BUILD_MODULE)/go.mod
	cd $(NODE_ETCD_BUILD_MODULE) && CGO_ENABLED=0 GOFLAGS='-mod=mod -trimpath' nice go build -ldflags '-s -w' -o $@ go.etcd.io/etcd/server/v3

$(NODE_BIN)/coredns: $(STAMPS)/coredns-$(COREDNS_VERSION)
	@tools/step $(TOOLS_DIR)/logs/coredns.log "building CoreDNS $(COREDNS_VERSION)" "about 4 min, 2 cores" -- \
	  env GOBIN=$(NODE_BIN) $(NODE_GO) install -ldflags '-s -w' github.com/coredns/coredns@$(COREDNS_VERSION)

$(NODE_BIN)/local-path-provisioner: $(STAMPS)/local-path-provisioner-$(LOCAL_PATH_PROVISIONER_VERSION)
	GOBIN=$(NODE_BIN) $(NODE_GO) install -ldflags '-s -w' github.com/rancher/local-path-provisioner@$(LOCAL_PATH_PROVISIONER_VERSION)

$(NODE_BIN)/kube-router: $(STAMPS)/kube-router-$(KUBE_ROUTER_VERSION)
	@tools/step $(TOOLS_DIR)/logs/kube-router.log "building kube-router $(KUBE_ROUTER_VERSION)" "about 2 min, 2 cores" -- \
	  env GOBIN=$(NODE_BIN) $(NODE_GO) install -ldflags '-s -w' github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$(KUBE_ROUTER_VERSION)

# The pause image's one program, from the Kubernetes source (build/pause/linux/pause.c), static.
$(NODE_BIN)/pause: $(STAMPS)/kubernetes-$(KUBE_CONTROL_PLANE_VERSION)
	@mkdir -p $(@D)
	gcc -Os -static -Wall -Werror -DVERSION=v$(KUBE_CONTROL_PLANE_VERSION) -o $@ \
	  "$(call go_module_dir,k8s.io/kubernetes@v$(KUBE_CONTROL_PLANE_VERSION))/build/pause/linux/pause.c"
	strip $@

.PHONY: kind-tools
# The control plane's images take the binaries `make k8s-e2e` runs (tools/kubernetes.mk).
kind-tools: $(KIND) $(HELM) $(SKAFFOLD) $(KUBECTL) $(KIND_NODE_BINARIES) $(KUBE_CONTROL_PLANE) ## Build kind, skaffold, helm, kubectl and what a kind node runs (make kind-e2e)
