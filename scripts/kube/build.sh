#!/usr/bin/env bash
# Builds kube-apiserver, kube-scheduler, kube-controller-manager, kubelet and
# kubectl from k8s.io/kubernetes at KUBE_VERSION, cached per version.
#
# k8s.io/kubernetes' module zip leaves out its staging modules, so the
# binaries are built from a throw-away main module that requires it and
# replaces every staging module (generated from its own go.mod's
# "=> ./staging/..." lines) with the published v0.<minor>.<patch>.
# A second run with the binaries present returns at once.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
CACHE=${SPECLOOP_KUBE_CACHE:-$HOME/.cache/specloop/kube}/$KUBE_VERSION
BIN=$CACHE/bin
CMDS="kube-apiserver kube-scheduler kube-controller-manager kubelet kubectl"

# kube-router, for its NetworkPolicy firewall alone (up.sh runs it with
# routing and the service proxy off): iptables and ipset rules, which this
# kernel supports, unlike sigs.k8s.io/kube-network-policies' nftables
# queue (CONFIG_NFT_QUEUE is not set). Cached per version like the rest.
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
if [ ! -x "$KUBE_ROUTER" ]; then
  echo "building kube-router $KUBE_ROUTER_VERSION"
  GOBIN=$(dirname "$KUBE_ROUTER") CGO_ENABLED=0 go install -trimpath -ldflags=-s \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
fi

have_all() {
  for c in $CMDS; do [ -x "$BIN/$c" ] || return 1; done
}
if have_all; then
  echo "kube $KUBE_VERSION binaries cached in $BIN"
  exit 0
fi

ver=${KUBE_VERSION#v}
major=${ver%%.*}
rest=${ver#*.}
minor=${rest%%.*}
staging=v0.${ver#*.}

mod=$CACHE/src
mkdir -p "$mod" "$BIN"
cd "$mod"
proxy=$(go env GOPROXY); proxy=${proxy%%,*}
[ -n "$proxy" ] && [ "$proxy" != direct ] || proxy=https://proxy.golang.org
curl -fsSL "$proxy/k8s.io/kubernetes/@v/$KUBE_VERSION.mod" -o kubernetes.mod
gover=$(awk '$1=="go"{print $2; exit}' kubernetes.mod)

{
  echo "module specloop.local/kubebuild"
  echo
  echo "go $gover"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  # Lines like "	k8s.io/api => ./staging/src/k8s.io/api".
  awk '/=> \.\/staging\//{print "\t" $1 " => " $1 " '"$staging"'"}' kubernetes.mod
  echo ")"
} > go.mod
n=$(grep -c "=> .* $staging" go.mod)
echo "generated $n staging replaces"

cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
GOFLAGS=-mod=mod go get k8s.io/kubernetes@"$KUBE_VERSION" k8s.io/kubectl@"$staging" >/dev/null

# Without the version stamps the components fail to parse their own version
# ("-master+$Format:%H$").
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
  ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

start=$(date +%s)
export CGO_ENABLED=0 GOFLAGS=-mod=mod
pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl"
# kubectl's main lives in k8s.io/kubernetes/cmd/kubectl too; build into a
# temporary dir and move into place so a killed build leaves no half binary.
tmp=$(mktemp -d "$CACHE/out.XXXXXX")
go build -trimpath -ldflags "$ld" -o "$tmp/" $pkgs
for c in $CMDS; do mv "$tmp/$c" "$BIN/$c"; done
rmdir "$tmp"
echo "built $CMDS in $(( $(date +%s) - start ))s into $BIN"
