#!/bin/bash
# cluster.sh - a single-node Kubernetes cluster of upstream components on this
# machine, for the real-cluster e2e (issue 12). Root.
#
#   cluster.sh start    build or find the binaries, start everything, wait Ready
#   cluster.sh smoke    a pod with a native sidecar and a preStop sleep behind
#                       a Service: Ready, reached by pod IP and ClusterIP
#   cluster.sh stop     stop everything and remove what start made; checks it
#   cluster.sh import TAR...  import docker archives into the cluster's
#                       containerd (pods use them with imagePullPolicy: Never)
#   cluster.sh residue  list what of this cluster is left on the machine
#   cluster.sh env      print the KUBECONFIG line for a shell
#
# Layout (everything under $NDT_K8S_DIR, default /tmp/ndt-k8s):
#   etcd 3.6 on 127.0.0.1:23790 (plain http, loopback only)
#   kube-apiserver on 10.215.0.1:6443 (TLS), advertised there: the address is on
#     the cluster's own bridge ndtk8s0, which this script makes (the kernel has
#     no dummy interfaces, and the `kubernetes` Endpoints refuse loopback)
#   controller-manager and scheduler on 127.0.0.1
#   containerd (Debian's) with its own root, state and socket, runc, cgroupfs
#   kubelet, node ndt-node, pods on ndtk8s0 in 10.216.0.0/24 (bridge CNI)
#   kube-proxy in iptables mode, services in 10.214.0.0/24
#
# Network rule: nothing made here may reach past this machine. Before
# kube-proxy starts, chain NDT-K8S-GUARD (mangle POSTROUTING, so it sees the
# final output interface after kube-proxy's DNAT, and filter FORWARD) drops
# every packet from or to the pod, service and node addresses that would leave
# by an interface other than lo or the cluster bridge.
set -Eeuo pipefail

here=$(cd "$(dirname "$0")" && pwd)
D=${NDT_K8S_DIR:-/tmp/ndt-k8s}
BR=ndtk8s0
BR_MAC=02:6e:64:74:6b:01		# fixed, see DEVELOPERS.md (bridge churn)
NODE=ndt-node
NODE_IP=10.215.0.1
POD_CIDR=10.216.0.0/24
POD_GW=10.216.0.1
SVC_CIDR=10.214.0.0/24
SVC_API=10.214.0.1
ETCD_PORT=23790
ETCD_PEER=23800
API=https://$NODE_IP:6443
PAUSE=localhost/ndt-k8s/pause:1
CG=ndt-k8s				# cgroup root of the node, in every v1 hierarchy
# With cgroupsPerQOS: false the kubelet ignores cgroupRoot and containerd puts
# containers in /k8s.io/<id>: stop cleans that too when start did not find it.
CGS="$CG k8s.io"
GUARD=NDT-K8S-GUARD
# Paths outside $D that the components make whatever their flags say: the
# kubelet's device-plugin socket and log links, containerd 1.6's shim sockets
# (/run/containerd/s), libcni's result cache. stop removes the ones that were
# not there before start (/var/lib/cni only down to our own files).
HOSTDIRS="/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /var/lib/cni"
# Machine-wide settings that the kubelet (setupKernelTunables, when
# protectKernelDefaults is false: and true refuses to start unless they
# already have its values), kube-proxy and the CNI plugins may change: saved
# by start, put back by stop, compared by the residue check.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max
net.netfilter.nf_conntrack_tcp_timeout_established
net.netfilter.nf_conntrack_tcp_timeout_close_wait net.ipv6.conf.all.forwarding"

say() { printf 'k8s-cluster: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network, mounts, cgroups)"

kc() { "$BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" --request-timeout=10s "$@"; }

# --- certificates ---------------------------------------------------------

# cert NAME CN O [SAN]: an ECDSA key and a certificate signed by the test CA
cert() {
	local name=$1 cn=$2 o=$3 san=${4:-} subj ext
	subj="/CN=$cn"
	[ -n "$o" ] && subj="/O=$o$subj"
	ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
	[ -n "$san" ] && ext="$ext
subjectAltName=$san"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$D/pki/$name.key" 2>/dev/null
	openssl req -new -key "$D/pki/$name.key" -subj "$subj" \
	    -out "$D/pki/$name.csr"
	openssl x509 -req -in "$D/pki/$name.csr" -CA "$D/pki/ca.crt" \
	    -CAkey "$D/pki/ca.key" -CAcreateserial -days 2 -sha256 \
	    -extfile <(printf '%s\n' "$ext") -out "$D/pki/$name.crt" 2>/dev/null
	rm -f "$D/pki/$name.csr"
}

make_pki() {
	mkdir -p "$D/pki"
	chmod 700 "$D/pki"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$D/pki/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$D/pki/ca.key" -subj "/CN=ndt-k8s-ca" \
	    -days 2 -sha256 -out "$D/pki/ca.crt" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
	cert apiserver kube-apiserver "" \
	    "IP:$NODE_IP,IP:$SVC_API,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
	cert admin kubernetes-admin system:masters
	cert controller-manager system:kube-controller-manager ""
	cert scheduler system:kube-scheduler ""
	cert kube-proxy system:kube-proxy ""
	cert kubelet "system:node:$NODE" system:nodes "IP:$NODE_IP,DNS:$NODE"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$D/pki/sa.key" 2>/dev/null
	openssl pkey -in "$D/pki/sa.key" -pubout -out "$D/pki/sa.pub"
}

# kubeconfig NAME: $D/NAME.kubeconfig for the client certificate NAME
kubeconfig() {
	cat >"$D/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ndt
  cluster:
    server: $API
    certificate-authority: $D/pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $D/pki/$1.crt
    client-key: $D/pki/$1.key
contexts:
- name: ndt
  context: {cluster: ndt, user: $1}
current-context: ndt
EOF
}

# --- processes --------------------------------------------------------------

# run NAME CMD...: start CMD in the background, log and pid under $D
run() {
	local name=$1
	shift
	say "starting $name"
	setsid "$@" >"$D/log/$name.log" 2>&1 </dev/null &
	echo $! >"$D/run/$name.pid"
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds, for SECONDS at
# most; WHAT names the component when it has a pid file, and its exit ends
# the wait at once, with the end of its log
wait_for() {
	local what=$1 end=$((SECONDS + $2))
	shift 2
	while ((SECONDS < end)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if [ -f "$D/run/$what.pid" ] && ! alive "$what"; then
			tail -5 "$D/log/$what.log" >&2
			die "$what exited (log: $D/log/$what.log)"
		fi
		sleep 0.2
	done
	die "$what not up in time (logs in $D/log)"
}

# cmdline PID: the process's command line, or nothing once it is gone
cmdline() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true; }

alive() { [ -f "$D/run/$1.pid" ] && kill -0 "$(cat "$D/run/$1.pid")" 2>/dev/null; }

# stop_procs NAME...: SIGTERM to all, SIGKILL to what is left after 10 s
stop_procs() {
	local name pids="" pid i
	for name in "$@"; do
		[ -f "$D/run/$name.pid" ] || continue
		pids="$pids $(cat "$D/run/$name.pid")"
		rm -f "$D/run/$name.pid"
	done
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		for pid in $pids; do kill -0 "$pid" 2>/dev/null && break; pid=""; done
		[ -z "$pid" ] && return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
}

# --- network ------------------------------------------------------------------

net_up() {
	ip link add "$BR" address "$BR_MAC" type bridge
	ip addr add "$POD_GW/24" dev "$BR"
	ip addr add "$NODE_IP/32" dev "$BR"
	ip link set "$BR" up
	local t
	for t in mangle filter; do
		iptables -w -t $t -N "$GUARD"
		iptables -w -t $t -A "$GUARD" -o lo -j RETURN
		iptables -w -t $t -A "$GUARD" -o "$BR" -j RETURN
		for a in "$POD_CIDR" "$SVC_CIDR" "$NODE_IP/32"; do
			iptables -w -t $t -A "$GUARD" -s "$a" -j DROP
			iptables -w -t $t -A "$GUARD" -d "$a" -j DROP
		done
	done
	iptables -w -t mangle -I POSTROUTING 1 -j "$GUARD"
	iptables -w -t filter -I FORWARD 1 -j "$GUARD"
}

net_down() {
	iptables -w -t mangle -D POSTROUTING -j "$GUARD" 2>/dev/null || true
	iptables -w -t filter -D FORWARD -j "$GUARD" 2>/dev/null || true
	local t
	for t in mangle filter; do
		iptables -w -t $t -F "$GUARD" 2>/dev/null || true
		iptables -w -t $t -X "$GUARD" 2>/dev/null || true
	done
	ip link del "$BR" 2>/dev/null || true
}

# --- the components ---------------------------------------------------------

write_configs() {
	mkdir -p "$D/cni/net.d" "$D/cni/ipam" "$D/containerd" "$D/kubelet" "$D/pod-logs"
	# Pods get routes to the service range and the node only, no default
	# route: nothing in a pod can even try an address off this machine.
	cat >"$D/cni/net.d/10-ndt.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "ndt-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BR",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$D/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
        "routes": [{"dst": "$SVC_CIDR"}, {"dst": "$NODE_IP/32"}]
      }
    }
  ]
}
EOF
	cat >"$D/containerd/config.toml" <<EOF
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$D/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  # The machine's capability bounding set lacks CAP_SYS_RESOURCE, so no
  # process may lower its oom_score_adj: without this, runc fails every pod
  # sandbox (containerd asks -998) with "failed to update
  # /proc/self/oom_score_adj: Permission denied". It clamps to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$D/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni/net.d"
EOF
	cat >"$D/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $D/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $D/pki/kubelet.crt
tlsPrivateKeyFile: $D/pki/kubelet.key
containerRuntimeEndpoint: unix://$D/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$CG
cgroupsPerQOS: ${NDT_K8S_QOS:-true}
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
oomScoreAdj: 0			# -999 cannot be set here (no CAP_SYS_RESOURCE)
podCIDR: $POD_CIDR
podLogsDir: $D/pod-logs
resolvConf: ""
clusterDomain: cluster.local
maxPods: 30
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
EOF
	cat >"$D/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $D/kube-proxy.kubeconfig}
hostnameOverride: $NODE
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$NODE_IP/32"]
detectLocalMode: ClusterCIDR
oomScoreAdj: 0
# 0 leaves the machine-wide conntrack sysctls as they are
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# The cgroup root of the node in every v1 hierarchy (the kubelet checks that
# cgroupRoot exists); the kubelet makes kubepods/... below it.
cg_up() {
	local h
	for h in /sys/fs/cgroup/*/; do
		[ -f "$h/cgroup.procs" ] || continue
		mkdir -p "$h$CG"
	done
}

# cg_ours: the cgroup dirs (below every v1 hierarchy) that are this cluster's
cg_ours() {
	local c
	for c in $CGS; do
		[ "$c" = "$CG" ] || ! grep -qxF "$c" "$D/cgroups.before" 2>/dev/null || continue
		echo "$c"
	done
}

# Kill what is left in the node's cgroups and remove them, deepest first.
cg_down() {
	local h d p c
	for c in $(cg_ours); do
		for h in /sys/fs/cgroup/*/; do
			[ -d "$h$c" ] || continue
			find "$h$c" -depth -type d | while read -r d; do
				for p in $(cat "$d/cgroup.procs" 2>/dev/null); do
					kill -KILL "$p" 2>/dev/null || true
				done
			done
		done
	done
	sleep 0.3
	for c in $(cg_ours); do
		for h in /sys/fs/cgroup/*/; do
			[ -d "$h$c" ] || continue
			find "$h$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
	done
}

sysctl_get() {
	local k
	for k in $SYSCTLS; do
		printf '%s=%s\n' "$k" "$(sysctl -n "$k" 2>/dev/null | tr '\t' ' ')"
	done
}

sysctl_restore() {
	[ -f "$D/sysctl.before" ] || return 0
	local kv
	while read -r kv; do
		[ "$(sysctl -n "${kv%%=*}" 2>/dev/null | tr '\t' ' ')" = "${kv#*=}" ] ||
		    sysctl -q -w "$kv" >/dev/null 2>&1 || say "could not restore $kv"
	done <"$D/sysctl.before"
}

# What this cluster may leave on the machine, one line each; empty when clean.
# Only our own names and ranges: other tests on the machine make netns,
# veths and rules of their own at the same time.
residue() {
	local ipt t h p c
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E "^($BR|ndtk8s)" | sed 's/^/link /' || true
	ip -o link show master "$BR" 2>/dev/null | awk -F': ' '{print "port " $2}' || true
	ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print "netns " $1}' | grep -vxF -f "$D/netns.before" || true
	awk -v d="$D/" 'index($2, d) == 1 || $2 ~ "^/run/netns/cni-" || $2 ~ "^/var/run/netns/cni-" {print "mount " $2}' /proc/self/mounts | grep -vxF -f "$D/mounts.before" || true
	for ipt in iptables ip6tables iptables-legacy ip6tables-legacy; do
		command -v $ipt >/dev/null || continue
		for t in filter nat mangle raw; do
			$ipt -w -t $t -S 2>/dev/null | grep -E -e "KUBE-|$GUARD" -e "${POD_CIDR%/*}|${SVC_CIDR%/*}|$NODE_IP" |
			    sed "s/^/$ipt $t /" || true
		done
	done
	nft list tables 2>/dev/null | grep -w kube-proxy | sed 's/^/nft /' || true
	for c in $(cg_ours); do
		for h in /sys/fs/cgroup/*/; do [ -d "$h$c" ] && echo "cgroup $h$c"; done
	done
	for h in $HOSTDIRS; do
		[ -e "$h" ] && [ -f "$D/hostdirs.before" ] && ! grep -qxF "$h" "$D/hostdirs.before" && echo "path $h"
	done
	for p in /var/lib/cni/results/ndt-k8s-* /var/lib/cni/results/cni-loopback-*-lo; do
		c=${p#*cni-loopback-}
		case "$p" in
		*/ndt-k8s-*) [ -e "$p" ] && echo "cni result $p" ;;
		*) [ -d "$D/containerd/root/io.containerd.grpc.v1.cri/sandboxes/${c%-lo}" ] && echo "cni result $p" ;;
		esac
	done
	[ -f "$D/sysctl.before" ] && sysctl_get | grep -vxF -f "$D/sysctl.before" | sed 's/^/sysctl changed: /' || true
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		c=$(cmdline "${p#/proc/}")
		case "$c" in *"$D/"*) echo "process ${p#/proc/} ${c:0:100}" ;; esac
	done
	return 0
}

start() {
	[ -e "$D/run" ] && die "$D/run exists: stop first (cluster.sh stop)"
	case "$D" in /*/?*) ;; *) die "NDT_K8S_DIR=$D: want an absolute path below a directory" ;; esac
	rm -rf "$D"			# the last run's state and logs: a fresh cluster
	local t0 t1
	t0=$(date +%s)
	BIN=$(bash "$here/build.sh")
	t1=$(date +%s)
	mkdir -p "$D/run" "$D/log"
	ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print "netns " $1}' >"$D/netns.before"
	awk '{print "mount " $2}' /proc/self/mounts >"$D/mounts.before"
	sysctl_get >"$D/sysctl.before"
	for h in $HOSTDIRS; do [ -e "$h" ] && echo "$h"; done >"$D/hostdirs.before"
	for c in $CGS; do [ -d "/sys/fs/cgroup/memory/$c" ] && echo "$c"; done >"$D/cgroups.before" || true
	echo "$BIN" >"$D/run/bin"
	# A start that fails stops what it started (NDT_K8S_KEEP=1 keeps it to look at).
	# shellcheck disable=SC2154 # rc is set in the trap itself
	trap 'rc=$?; [ $rc = 0 ] || [ -n "${NDT_K8S_KEEP:-}" ] || { say "start failed; stopping"; stop_all; }' EXIT
	trap 'exit 1' INT TERM HUP

	make_pki
	for k in admin controller-manager scheduler kube-proxy kubelet; do kubeconfig $k; done
	write_configs
	net_up
	cg_up

	run etcd "$BIN/etcd" --name ndt --data-dir "$D/etcd" \
	    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
	    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
	    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
	    --initial-cluster "ndt=http://127.0.0.1:$ETCD_PEER" \
	    --unsafe-no-fsync
	run containerd containerd --config "$D/containerd/config.toml"
	wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

	run kube-apiserver "$BIN/kube-apiserver" \
	    --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port=6443 \
	    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
	    --service-cluster-ip-range="$SVC_CIDR" \
	    --client-ca-file="$D/pki/ca.crt" \
	    --tls-cert-file="$D/pki/apiserver.crt" --tls-private-key-file="$D/pki/apiserver.key" \
	    --kubelet-client-certificate="$D/pki/apiserver-kubelet-client.crt" \
	    --kubelet-client-key="$D/pki/apiserver-kubelet-client.key" \
	    --kubelet-certificate-authority="$D/pki/ca.crt" \
	    --kubelet-preferred-address-types=InternalIP \
	    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
	    --service-account-key-file="$D/pki/sa.pub" \
	    --service-account-signing-key-file="$D/pki/sa.key" \
	    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
	    --allow-privileged=true --profiling=false
	wait_for kube-apiserver 90 kc get --raw /readyz

	run kube-controller-manager "$BIN/kube-controller-manager" \
	    --kubeconfig="$D/controller-manager.kubeconfig" \
	    --authentication-kubeconfig="$D/controller-manager.kubeconfig" \
	    --authorization-kubeconfig="$D/controller-manager.kubeconfig" \
	    --bind-address=127.0.0.1 --leader-elect=false \
	    --service-account-private-key-file="$D/pki/sa.key" \
	    --root-ca-file="$D/pki/ca.crt" --use-service-account-credentials=true \
	    --cluster-signing-cert-file="$D/pki/ca.crt" \
	    --cluster-signing-key-file="$D/pki/ca.key" --profiling=false
	run kube-scheduler "$BIN/kube-scheduler" \
	    --kubeconfig="$D/scheduler.kubeconfig" \
	    --authentication-kubeconfig="$D/scheduler.kubeconfig" \
	    --authorization-kubeconfig="$D/scheduler.kubeconfig" \
	    --bind-address=127.0.0.1 --leader-elect=false --profiling=false

	wait_for containerd 30 ctr --connect-timeout 1s --address "$D/containerd/containerd.sock" version
	bash "$here/images.sh" "$D/images" >/dev/null
	for i in "$D"/images/*.tar; do
		ctr --address "$D/containerd/containerd.sock" -n k8s.io images import "$i" >/dev/null
	done

	run kubelet "$BIN/kubelet" --config="$D/kubelet/config.yaml" \
	    --kubeconfig="$D/kubelet.kubeconfig" --root-dir="$D/kubelet" \
	    --hostname-override="$NODE" --node-ip="$NODE_IP" \
	    --pod-infra-container-image="$PAUSE"
	run kube-proxy "$BIN/kube-proxy" --config="$D/kube-proxy.yaml"

	wait_for "node Ready" 120 kc wait --for=condition=Ready "node/$NODE" --timeout=1s
	# pods are refused until the controller-manager has made the namespace's
	# service account
	wait_for "default service account" 60 kc get serviceaccount default
	trap - EXIT INT TERM HUP
	say "cluster up in $(($(date +%s) - t1)) s (binaries: $((t1 - t0)) s); export KUBECONFIG=$D/admin.kubeconfig"
	kc get nodes -o wide >&2
}

# pod_netns IP: the CRI network namespace (cni-*) whose eth0 has IP
pod_netns() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do
		ip -n "$ns" -4 -o addr show 2>/dev/null | grep -q "inet $1/" && { echo "$ns"; return 0; }
	done
	return 0
}

smoke() {
	BIN=$(cat "$D/run/bin")
	local t0 ip i out ns
	t0=$(date +%s)
	# a pod with a native sidecar (an init container that keeps running) and
	# a preStop sleep, the two features the chart relies on, behind a Service
	kc apply -f - >&2 <<EOF
apiVersion: v1
kind: Pod
metadata: {name: smoke, namespace: default, labels: {app: smoke}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 5
  dnsPolicy: Default
  initContainers:
  - name: sidecar
    image: $PAUSE
    imagePullPolicy: Never
    restartPolicy: Always
  containers:
  - name: app
    image: localhost/ndt-k8s/tinyhttp:1
    imagePullPolicy: Never
    ports: [{containerPort: 8080}]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
    lifecycle:
      preStop:
        sleep: {seconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: smoke, namespace: default}
spec:
  selector: {app: smoke}
  ports: [{port: 80, targetPort: 8080}]
EOF
	kc wait --for=condition=Ready pod/smoke --timeout=60s >&2
	ip=$(kc get pod smoke -o jsonpath='{.status.podIP}')
	say "pod smoke Ready at $ip in $(($(date +%s) - t0)) s"
	kc get pod smoke -o jsonpath='{range .status.initContainerStatuses[*]}{.name} started={.started} ready={.ready} {.state}{"\n"}{end}{range .status.containerStatuses[*]}{.name} ready={.ready} {.state}{"\n"}{end}' >&2
	# the kubernetes Service's ClusterIP, through kube-proxy's rules, to the
	# API server on the node address
	curl -sS --max-time 5 --cacert "$D/pki/ca.crt" --cert "$D/pki/admin.crt" \
	    --key "$D/pki/admin.key" "https://$SVC_API/readyz" >/dev/null
	say "ClusterIP $SVC_API:443 -> kube-proxy -> $NODE_IP:6443: ok"
	# the pod, direct and through its Service's ClusterIP (once kube-proxy
	# has the EndpointSlice)
	out=$(curl -sS --max-time 5 "http://$ip:8080/")
	[ "$out" = smoke ] || die "pod $ip:8080 answered '$out'"
	ip=$(kc get service smoke -o jsonpath='{.spec.clusterIP}')
	for ((i = 0; i < 50; i++)); do
		out=$(curl -s --max-time 2 "http://$ip/" || true)
		[ "$out" = smoke ] && break
		sleep 0.2
	done
	[ "$out" = smoke ] || die "ClusterIP $ip:80 answered '$out'"
	say "ClusterIP $ip:80 -> kube-proxy -> pod: ok"
	# and from inside the pod's own network namespace: the path a client pod
	# takes, here back to the same pod (hairpin, masqueraded by kube-proxy)
	ns=$(pod_netns "$(kc get pod smoke -o jsonpath='{.status.podIP}')")
	[ -n "$ns" ] || die "no network namespace holds the pod's address"
	out=$(ip netns exec "$ns" curl -sS --max-time 5 "http://$ip/")
	[ "$out" = smoke ] || die "ClusterIP $ip:80 from the pod's netns answered '$out'"
	say "from the pod's netns $ns: ClusterIP $ip:80 -> kube-proxy -> the same pod (hairpin): ok"
	ip netns exec "$ns" curl -sS --max-time 5 --cacert "$D/pki/ca.crt" --cert "$D/pki/admin.crt" \
	    --key "$D/pki/admin.key" "https://$SVC_API/readyz" >/dev/null
	say "from the pod's netns: ClusterIP $SVC_API:443 -> the API server: ok"
	kc get endpointslices -l kubernetes.io/service-name=smoke \
	    -o jsonpath='{range .items[*].endpoints[*]}endpoint {.addresses} {.conditions}{"\n"}{end}' >&2
	# the API server -> kubelet path (its serving cert, our client cert)
	kc logs smoke -c app >/dev/null
	say "kubectl logs (API server -> kubelet :10250): ok"
	# a deleted pod leaves the EndpointSlice's ready endpoints at once, while
	# its preStop runs (KEP-1672: ready false, terminating true)
	t0=$(date +%s)
	kc delete pod smoke --wait=false >&2
	for ((i = 0; i < 50; i++)); do
		out=$(kc get endpointslices -l kubernetes.io/service-name=smoke \
		    -o jsonpath='{range .items[*].endpoints[*]}{.conditions.ready}/{.conditions.terminating}{end}')
		[ "$out" = false/true ] && break
		sleep 0.1
	done
	[ "$out" = false/true ] || die "EndpointSlice of the deleted pod: ready/terminating '$out'"
	say "deleted pod in its EndpointSlice: ready=false terminating=true"
	kc wait --for=delete pod/smoke --timeout=60s >&2
	say "pod smoke deleted in $(($(date +%s) - t0)) s (preStop sleep 1 s, then SIGTERM)"
	kc delete service smoke >&2
}

# Stop everything, whether or not start got far.
stop_all() {
	local n m f id
	BIN=$(cat "$D/run/bin" 2>/dev/null || true)
	# no controller may recreate the pods deleted here
	stop_procs kube-controller-manager
	if [ -n "$BIN" ] && alive kube-apiserver && alive kubelet; then
		kc delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
		for ((n = 0; n < 100; n++)); do
			[ -z "$(kc get pods -A -o name 2>/dev/null)" ] && break
			sleep 0.2
		done
	fi
	stop_procs kube-proxy kubelet kube-scheduler kube-controller-manager
	stop_procs kube-apiserver
	stop_procs etcd
	# the pods' processes and the shims of our containerd (by our socket)
	cg_down
	for p in /proc/[0-9]*; do
		case "$(cmdline "${p#/proc/}")" in
		*"-address $D/containerd/containerd.sock"*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;;
		esac
	done
	stop_procs containerd
	# kube-proxy's and the kubelet's iptables chains
	[ -n "$BIN" ] && "$BIN/kube-proxy" --cleanup --config="$D/kube-proxy.yaml" \
	    >"$D/log/kube-proxy-cleanup.log" 2>&1 || true
	for ipt in iptables ip6tables; do
		for t in mangle nat filter; do
			for c in $($ipt -w -t $t -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
				$ipt -w -t $t -S 2>/dev/null | awk -v c="$c" '$1 == "-A" && $0 ~ "-j " c "( |$)" {sub(/^-A/, "-D"); print}' |
				    while read -r rule; do eval "$ipt -w -t $t $rule" || true; done
			done
			for c in $($ipt -w -t $t -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
				$ipt -w -t $t -F "$c" 2>/dev/null || true
			done
			for c in $($ipt -w -t $t -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
				$ipt -w -t $t -X "$c" 2>/dev/null || true
			done
		done
	done
	# network namespaces left by the CRI, mounts under $D
	for m in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ {print $1}'); do
		grep -qxF "netns $m" "$D/netns.before" 2>/dev/null && continue
		ip netns del "$m" 2>/dev/null || true
	done
	for m in $(awk -v d="$D/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	net_down
	sysctl_restore
	rm -f /var/lib/cni/results/ndt-k8s-* 2>/dev/null || true
	# containerd's own loopback results, of the sandboxes of this containerd
	for f in /var/lib/cni/results/cni-loopback-*-lo; do
		id=${f#*cni-loopback-}
		id=${id%-lo}
		[ -d "$D/containerd/root/io.containerd.grpc.v1.cri/sandboxes/$id" ] && rm -f "$f"
	done
	for l in /var/log/containers/*; do
		[ -L "$l" ] && case "$(readlink "$l")" in "$D"/*) rm -f "$l" ;; esac
	done
	if [ -f "$D/hostdirs.before" ]; then
		for h in $HOSTDIRS; do
			[ -e "$h" ] && ! grep -qxF "$h" "$D/hostdirs.before" || continue
			case "$h" in
			/var/lib/cni) find "$h" -depth -type d -empty -delete 2>/dev/null || true ;;
			*) rm -rf "$h" ;;
			esac
		done
	fi
	rm -rf "$D/run"
}

stop() {
	[ -d "$D/run" ] || { say "not running"; return 0; }
	stop_all
	sleep 0.5
	residue >"$D/residue.txt"
	if [ -s "$D/residue.txt" ]; then
		cat "$D/residue.txt" >&2
		die "teardown left the above (also in $D/residue.txt)"
	fi
	say "stopped; nothing left (checked links, netns, mounts, iptables, processes)"
}

case "${1:-}" in
start) start ;;
smoke) smoke ;;
stop) stop ;;
residue) residue ;;
import)
	shift
	[ -d "$D/run" ] || die "not running"
	for i in "$@"; do
		ctr --address "$D/containerd/containerd.sock" -n k8s.io images import "$i" >/dev/null ||
		    die "cannot import $i"
	done
	;;
env) echo "export KUBECONFIG=$D/admin.kubeconfig" ;;
*) echo "usage: cluster.sh start|smoke|stop|import TAR...|residue|env" >&2; exit 2 ;;
esac
