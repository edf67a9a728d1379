#!/bin/bash
# What the rollout harness's capped links carry when the nodes' own
# protocol is out of the way (bench/RESULTS.md, 2026-12-07, "What the
# links can carry"). N FROM scratch containers with Debian's static
# busybox, each capped at RATE both ways exactly as rolloutbench caps its
# nodes (integration/harness/netcap.go: tbf, 64kb burst, 100ms, egress
# on eth0 inside, ingress on the host end of the veth; reno), each
# fetching SIZE MiB objects over HTTP, K at a time, from random peers
# (MODE=random) or from the next K containers in a ring (MODE=ring,
# every link carrying K streams each way), for DUR seconds after a 20 s
# warm-up. Prints the links' use as a share of their caps. Needs root,
# docker, tc and nsenter; it creates and removes its own network and
# containers.
#
#   sudo N=20 K=2 MODE=ring bench/linkpairs/run.sh
set -euo pipefail
N=${N:-20}; K=${K:-2}; RATE=${RATE:-4mbit}; DUR=${DUR:-60}; SIZE=${SIZE:-1}; MODE=${MODE:-random}
case $RATE in *mbit) ;; *) echo "RATE must be in mbit" >&2; exit 2 ;; esac
work=$(mktemp -d)
net=linkpairs-$$
cleanup() {
	docker rm -f $(docker ps -aq --filter "name=$net-") >/dev/null 2>&1 || true
	docker network rm $net >/dev/null 2>&1 || true
	docker rmi linkpairs >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
cp /bin/busybox "$work/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox", "sh", "-c"]\n' > "$work/Dockerfile"
docker build -q -t linkpairs "$work" >/dev/null
docker network create $net >/dev/null
cc=reno
grep -qw cubic /proc/sys/net/ipv4/tcp_allowed_congestion_control && cc=cubic
for i in $(seq 0 $((N-1))); do
	docker run -d --name $net-$i --network $net --sysctl net.ipv4.tcp_congestion_control=$cc linkpairs \
		"busybox mkdir -p /www && busybox dd if=/dev/zero of=/www/f bs=1M count=$SIZE 2>/dev/null && busybox httpd -p 80 -h /www && busybox sleep $((DUR+120))" >/dev/null
done
ips=()
veths=()
for i in $(seq 0 $((N-1))); do
	ips+=("$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $net-$i)")
	pid=$(docker inspect -f '{{.State.Pid}}' $net-$i)
	peer=$(nsenter -t "$pid" -n ip -o link show eth0 | sed -n 's/.*eth0@if\([0-9]*\).*/\1/p')
	host=$(ip -o link | awk -F': ' -v idx="$peer" '$1==idx {print $2}' | cut -d@ -f1)
	nsenter -t "$pid" -n tc qdisc replace dev eth0 root tbf rate "$RATE" burst 64kb latency 100ms
	tc qdisc replace dev "$host" root tbf rate "$RATE" burst 64kb latency 100ms
	veths+=("$host")
done
for i in $(seq 0 $((N-1))); do
	for k in $(seq 1 "$K"); do
		if [ "$MODE" = ring ]; then
			from=${ips[$(((i + k) % N))]}
		else
			from=$(for j in $(seq 0 $((N-1))); do [ "$j" = "$i" ] || echo "${ips[$j]}"; done | tr '\n' ' ')
		fi
		# A bounded loop: it stops by itself after the measurement.
		docker exec -d $net-$i busybox sh -c "set -- $from; end=\$((\$(busybox date +%s)+$DUR+40)); while [ \$(busybox date +%s) -lt \$end ]; do j=\$((RANDOM % \$# + 1)); eval ip=\\\${\$j}; busybox wget -q -O /dev/null http://\$ip/f; done"
	done
done
total() { local t=0 v; for v in "${veths[@]}"; do t=$((t + $(cat /sys/class/net/$v/statistics/$1))); done; echo $t; }
sleep 20
r0=$(total rx_bytes); t0=$(total tx_bytes); s0=$(date +%s.%N)
sleep "$DUR"
r1=$(total rx_bytes); t1=$(total tx_bytes); s1=$(date +%s.%N)
awk -v n="$N" -v k="$K" -v mode="$MODE" -v rate="${RATE%mbit}" -v s0="$s0" -v s1="$s1" -v up=$((r1-r0)) -v down=$((t1-t0)) 'BEGIN {
	dt = s1 - s0
	cap = n * rate * 1e6 / 8 * dt
	printf "N=%d K=%d %s, %s MiB objects: links used up %.3f, down %.3f of their caps over %.0f s\n", n, k, mode, "'"$SIZE"'", up / cap, down / cap, dt }'
