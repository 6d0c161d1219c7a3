#!/usr/bin/env bash
# Tears down what up.sh started: the daemons, every pod's containers and
# mounts, the kubelet's and kube-router's KUBE-* iptables chains and
# kube-router's ipsets, the kubepods cgroups, the
# CNI bridge, and $KUBE_DIR itself (KEEP_KUBE_DIR=1 keeps it for a look).
# The build cache stays.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

stop() { # name
  local f=$KUBE_RUN/$1.pid
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  kill "$pid" 2>/dev/null
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$f"
}
# kube-router first: it would put back the chains removed below.
for c in kube-router kube-controller-manager kube-scheduler kubelet; do stop "$c"; done
# The containers' shims outlive containerd: kill every task first.
if [ -S "$CONTAINERD_SOCK" ]; then
  for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1; done
  sleep 0.5
  for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1; done
fi
stop containerd
# Shims started by our containerd (their -address names our socket).
for p in $(pgrep -f "containerd-shim.*$CONTAINERD_SOCK"); do kill -9 "$p" 2>/dev/null; done
for c in kube-apiserver etcd; do stop "$c"; done

# Mounts under our directories, deepest first.
for d in "$KUBE_DIR" "$KUBE_RUN"; do
  awk -v d="$d" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
done
# The kubelet's chains (they include DROP rules) in filter, nat and mangle.
for t in filter nat mangle; do
  for ch in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}'); do
    iptables -t "$t" -S 2>/dev/null | grep -- "-j $ch\b" | grep -v "^-N" | sed 's/^-A/-D/' | while read -r rule; do
      eval iptables -t "$t" "$rule" 2>/dev/null
    done
  done
  for ch in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}'); do
    iptables -t "$t" -F "$ch" 2>/dev/null
  done
  for ch in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^KUBE-/ {print $2}'); do
    iptables -t "$t" -X "$ch" 2>/dev/null
  done
done
# kube-router's ipsets, once no rule refers to them.
for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router)'); do ipset destroy "$set" 2>/dev/null; done
# The kubepods cgroups, leaves first.
for ctl in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  [ -d "$ctl/kubepods" ] && find "$ctl/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null
done
ip link del "$KUBE_BRIDGE" 2>/dev/null
for v in $(ip -o link show 2>/dev/null | awk -F': ' '/master '"$KUBE_BRIDGE"'/ {split($2,a,"@"); print a[1]}'); do ip link del "$v" 2>/dev/null; done
# Network namespaces the CNI left (containerd names them cni-*).
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns del "$ns" 2>/dev/null; done
[ "${KEEP_KUBE_DIR:-}" = 1 ] || rm -rf "$KUBE_DIR" "$KUBE_RUN"
echo "cluster down"
