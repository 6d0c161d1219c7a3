# Shared settings of the local single-node cluster (sourced by up.sh,
# down.sh, image.sh). Everything listens on 127.0.0.1.
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
KUBE_BIN=${SPECLOOP_KUBE_CACHE:-$HOME/.cache/specloop/kube}/$KUBE_VERSION/bin
# The NetworkPolicy engine (build.sh, up.sh): kube-router's firewall only.
KUBE_ROUTER_VERSION=${KUBE_ROUTER_VERSION:-v2.1.0}
KUBE_ROUTER=${SPECLOOP_KUBE_CACHE:-$HOME/.cache/specloop/kube}/kube-router-$KUBE_ROUTER_VERSION/bin/kube-router
KUBE_DIR=${KUBE_DIR:-/var/lib/specloop-kube}
KUBE_RUN=${KUBE_RUN:-/run/specloop-kube}
KUBE_PORT=${KUBE_PORT:-6443}
ETCD_PORT=${ETCD_PORT:-23791}
KUBE_BRIDGE=${KUBE_BRIDGE:-slkube0}
KUBE_POD_CIDR=${KUBE_POD_CIDR:-10.244.0.0/24}
# The node's address on the bridge (the pod subnet's first): what a pod
# would reach of the host. Only the NetworkPolicies keep sandboxes off it.
KUBE_BRIDGE_ADDR=${KUBE_BRIDGE_ADDR:-10.244.0.1}
CONTAINERD_SOCK=$KUBE_RUN/containerd.sock
PAUSE_IMAGE=registry.k8s.io/pause:3.10
SANDBOX_IMAGE=${SANDBOX_IMAGE:-specloop.local/sandbox:dev}
KUBECONFIG_OUT=$KUBE_DIR/admin.kubeconfig
ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
