#!/bin/sh
# Does adding and removing bridge ports lose packets between a pod and the
# host? The experiment behind the e2e's pinned bridge MAC (docs/ZERO-DOWNTIME.md).
#
#   sh tests/e2e/bridge_churn.sh pin     # bridge with its own MAC
#   sh tests/e2e/bridge_churn.sh nopin   # bridge takes its ports' lowest MAC
#
# One pod (a network namespace with the demo app), a Connection: close load
# from the host with wrk for 16 s, and meanwhile a veth joining and leaving
# the bridge every 0.25 s. It prints wrk's latency and the pod's TCP
# retransmit counters: with "pin" they stay 0. Root; needs `make tests-build`.
set -eu
mode=${1:-nopin}
APP=${APP:-build/tests/servers/demo_app}
BR=ndtchurn0
NS=ndt-churn
[ -x "$APP" ] || { echo "bridge_churn: $APP missing (make tests-build)"; exit 1; }

cleanup() {
	for p in $(ip netns pids $NS 2>/dev/null); do kill "$p" 2>/dev/null || :; done
	ip netns del $NS 2>/dev/null || :
	ip link del $BR 2>/dev/null || :
	for i in $(seq 1 64); do ip link del ndtchx$i 2>/dev/null || :; done
}
trap cleanup EXIT INT TERM
cleanup

if [ "$mode" = pin ]; then
	ip link add $BR address 02:d7:e2:e0:00:02 type bridge
else
	ip link add $BR type bridge
fi
ip addr add 10.214.0.1/24 dev $BR
ip link set $BR up
ip netns add $NS
ip link add ndtchpod type veth peer name eth0 netns $NS
ip link set ndtchpod master $BR up
ip -n $NS link set lo up
ip -n $NS addr add 10.214.0.2/24 dev eth0
ip -n $NS link set eth0 up
ip netns exec $NS "$APP" --port 8080 --delay-ms 0 --mode naive \
    --name churn >/dev/null 2>&1 &
sleep 0.5

(
	i=0
	while [ $i -lt 60 ]; do
		i=$((i + 1))
		ip link add ndtchx$i type veth peer name ndtchy$i
		ip link set ndtchx$i master $BR up
		sleep 0.15
		ip link del ndtchx$i
		sleep 0.1
	done
) &
churn=$!
wrk -t1 -c16 -d16s -H "Connection: close" --latency http://10.214.0.2:8080/ |
    grep -E "Latency |99%|requests in|Socket errors"
wait $churn
echo "bridge_churn $mode: pod $(ip netns exec $NS nstat -az TcpRetransSegs \
    TcpExtTCPSynRetrans | awk '!/^#/ { printf "%s %s ", $1, $2 }')"
