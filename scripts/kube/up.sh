#!/usr/bin/env bash
# Brings up a single-node Kubernetes on 127.0.0.1 from the binaries build.sh
# cached: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
# kubelet (node "localhost") on a private containerd, pods on a CNI bridge
# with no route anywhere. Installs the Debian packages it needs when missing,
# imports the images image.sh builds, creates the sandbox namespace and
# writes $KUBE_DIR/admin.kubeconfig. Idempotent: down.sh first. Needs root.
# The facts behind every flag: docs/deploy.md, "Sandboxes in the cluster".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
KUBE_NAMESPACE=${KUBE_NAMESPACE:-specloop-sandbox}
start=$(date +%s)

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || need+=(busybox-static)
command -v openssl >/dev/null || need+=(openssl)
command -v iptables >/dev/null || need+=(iptables)
command -v ipset >/dev/null || need+=(ipset)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
"$here/build.sh"

"$here/down.sh" >/dev/null 2>&1 || true
mkdir -p "$KUBE_DIR"/{pki,log,etcd,kubelet,containerd,cni} "$KUBE_RUN"
pki=$KUBE_DIR/pki
log=$KUBE_DIR/log

# Certificates: one CA, serving certificates for the apiserver and the
# kubelet, one client certificate (system:masters) every component uses,
# and the service-account key pair.
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=specloop-kube-ca 2>/dev/null
  cert() { # name subject san
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n%s' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 -extfile "$1.ext" 2>/dev/null
  }
  cert apiserver /CN=kube-apiserver 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes.default.svc'
  cert kubelet /CN=localhost 'subjectAltName=IP:127.0.0.1,DNS:localhost'
  cert admin '/O=system:masters/CN=admin' ''
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
cat > "$KUBECONFIG_OUT" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$KUBE_PORT", certificate-authority: "$pki/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}
contexts:
- name: local
  context: {cluster: local, user: admin, namespace: $KUBE_NAMESPACE}
current-context: local
KC

daemon() { # name command...
  local name=$1; shift
  setsid "$@" >"$log/$name.log" 2>&1 < /dev/null &
  echo $! > "$KUBE_RUN/$name.pid"
}

daemon etcd etcd --name local --data-dir "$KUBE_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls http://127.0.0.1:$((ETCD_PORT + 1)) --initial-advertise-peer-urls http://127.0.0.1:$((ETCD_PORT + 1)) \
  --initial-cluster "local=http://127.0.0.1:$((ETCD_PORT + 1))"

# The apiserver refuses to advertise a loopback address unless it does not
# reconcile the kubernetes endpoints itself.
daemon kube-apiserver "$KUBE_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$KUBE_PORT" \
  --endpoint-reconciler-type none --kubelet-preferred-address-types Hostname,InternalIP \
  --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --kubelet-client-certificate "$pki/admin.crt" --kubelet-client-key "$pki/admin.key" \
  --kubelet-certificate-authority "$pki/ca.crt" \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/24 \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction,ResourceQuota

# containerd of our own: its own socket, root and state, so a host's
# containerd is never touched. Root here lacks CAP_SYS_RESOURCE: without
# restrict_oom_score_adj every pod sandbox fails in runc.
cat > "$KUBE_DIR/containerd.toml" <<TOML
version = 2
root = "$KUBE_DIR/containerd"
state = "$KUBE_RUN/containerd"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$KUBE_DIR/cni"
TOML
# Pods get an address on the bridge and no routes: nothing beyond the
# bridge (cluster services, the internet) is reachable. The node has an
# address on the bridge ($KUBE_BRIDGE_ADDR), so a pod could reach the
# host's listeners and other pods but for the NetworkPolicies, which
# kube-router enforces (below); the tests check both sides.
cat > "$KUBE_DIR/cni/10-specloop.conflist" <<CNI
{"cniVersion": "1.0.0", "name": "specloop", "plugins": [
  {"type": "bridge", "bridge": "$KUBE_BRIDGE", "isGateway": false, "ipMasq": false, "hairpinMode": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$KUBE_POD_CIDR"}]], "routes": [],
            "dataDir": "$KUBE_RUN/cni-ipam"}},
  {"type": "loopback"}]}
CNI
ip link add "$KUBE_BRIDGE" type bridge
ip addr add "$KUBE_BRIDGE_ADDR/${KUBE_POD_CIDR#*/}" dev "$KUBE_BRIDGE"
ip link set "$KUBE_BRIDGE" up
daemon containerd containerd --config "$KUBE_DIR/containerd.toml"

for i in $(seq 100); do [ -S "$CONTAINERD_SOCK" ] && ctr_ version >/dev/null 2>&1 && break; sleep 0.2; done
"$here/image.sh"

cat > "$KUBE_DIR/kubelet.yaml" <<KL
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$pki/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$pki/kubelet.crt"
tlsPrivateKeyFile: "$pki/kubelet.key"
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
podPidsLimit: 4096
maxPods: 60
serializeImagePulls: false
# Images come from image.sh, not a registry: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
resolvConf: ""
KL

# The kubelet needs the apiserver; wait for it.
for i in $(seq 300); do
  "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.3
done
"$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" get --raw /readyz >/dev/null

# The node is named localhost: the kubelet refuses a loopback node IP, and
# the apiserver reaches it by hostname.
daemon kubelet "$KUBE_BIN/kubelet" --config "$KUBE_DIR/kubelet.yaml" --kubeconfig "$KUBECONFIG_OUT" \
  --hostname-override localhost --root-dir "$KUBE_DIR/kubelet" --cert-dir "$KUBE_DIR/kubelet/pki"
daemon kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig "$KUBECONFIG_OUT" \
  --bind-address 127.0.0.1 --leader-elect=false
daemon kube-controller-manager "$KUBE_BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG_OUT" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=false \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt"

k() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }
for i in $(seq 300); do
  k get node localhost -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True && break
  sleep 0.5
done
k wait --for=condition=Ready node/localhost --timeout=10s >/dev/null
# NetworkPolicy: kube-router's firewall (pod chains in INPUT, FORWARD and
# OUTPUT, with ipsets), no BGP routing, no service proxy, no CNI of its
# own, no health or metrics listener. It needs the node registered; it
# is ready when FORWARD jumps to its chain.
daemon kube-router "$KUBE_ROUTER" --kubeconfig "$KUBECONFIG_OUT" --hostname-override localhost \
  --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
  --enable-ipv6=false --health-port=0 --metrics-port=0
for i in $(seq 150); do iptables -S FORWARD 2>/dev/null | grep -q -- '-j KUBE-ROUTER-FORWARD' && break; sleep 0.2; done
iptables -S FORWARD | grep -q -- '-j KUBE-ROUTER-FORWARD' || { tail -5 "$log/kube-router.log" >&2; exit 1; }

k create namespace "$KUBE_NAMESPACE" >/dev/null 2>&1 || true
echo "cluster up in $(( $(date +%s) - start ))s; KUBECONFIG=$KUBECONFIG_OUT"
