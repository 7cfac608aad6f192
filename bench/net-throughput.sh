#!/usr/bin/env bash
# net-throughput: TCP throughput container -> container over pcr's bridge against host loopback,
# with the same tools on both sides (busybox nc and dd, 1 GiB of zeros), in the same run.
# The ratio is what counts. Traffic goes only to loopback and to the test's own containers.
# Needs root, bin/pcr, `make fixtures`, and busybox on the host. Usage: bench/net-throughput.sh [MiB]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mib=${1:-1024}
pcr=$PWD/bin/pcr
bb=$PWD/rootfs-fixtures/build/busybox/rootfs/bin/busybox
[[ -x $pcr && -x $bb ]] || { echo "net-throughput: run make build fixtures first" >&2; exit 1; }
work=$(mktemp -d /tmp/pcr-net-bench.XXXXXX)
p() { "$pcr" --root "$work/root" --state "$work/state" "$@"; }
cleanup() {
	p rm -f nbsrv nbcli >/dev/null 2>&1 || true
	[[ -n ${srv:-} ]] && kill -- -"$srv" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
p import rootfs-fixtures/build/busybox.tar busybox >/dev/null

# seconds to push $mib MiB through nc, from the client command to the server's exit
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# host loopback
port=$((20000 + RANDOM % 20000))
# busybox nc ends its session when its stdin ends: the server's stdin is a sleep that outlives it.
: >"$work/host.bytes"
setsid "$bb" sh -c "$bb sleep 3600 | $bb nc -l -p $port | $bb wc -c >$work/host.bytes" &
srv=$!
sleep 0.2
t0=$(date +%s%N)
"$bb" sh -c "$bb dd if=/dev/zero bs=1M count=$mib 2>/dev/null | $bb nc 127.0.0.1 $port" || true
for _ in $(seq 600); do [[ -s $work/host.bytes ]] && break; sleep 0.05; done
t1=$(date +%s%N)
kill -- -"$srv" 2>/dev/null || true # its own process group (setsid): the server and its sleep
srv=
[[ $(cat "$work/host.bytes") == $((mib * 1048576)) ]] || { echo "net-throughput: loopback moved $(cat "$work/host.bytes") bytes, not $((mib * 1048576))" >&2; exit 1; }
host=$(secs "$t0" "$t1")

# container -> container over the bridge
p run -d --name nbsrv busybox sh -c 'sleep 3600 | nc -l -p 5001 | wc -c' >/dev/null
ip=$(p inspect nbsrv | sed -n 's/.*"IPAddress": *"\([0-9.]*\)".*/\1/p' | head -1)
[[ -n $ip ]] || { echo "net-throughput: no address for the server container" >&2; exit 1; }
sleep 0.2
t0=$(date +%s%N)
p run --rm --name nbcli busybox sh -c "dd if=/dev/zero bs=1M count=$mib 2>/dev/null | nc $ip 5001" || true
for _ in $(seq 600); do got=$(p logs nbsrv | tr -d '[:space:]'); [[ -n $got ]] && break; sleep 0.05; done
t1=$(date +%s%N)
[[ $got == $((mib * 1048576)) ]] || { echo "net-throughput: the bridge moved $got bytes, not $((mib * 1048576))" >&2; exit 1; }
bridge=$(secs "$t0" "$t1")

echo "machine: $(nproc) cores, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $mib MiB each"
awk -v h="$host" -v b="$bridge" -v m="$mib" 'BEGIN {
	printf "| path | seconds | MiB/s |\n|---|---|---|\n"
	printf "| host loopback (busybox nc) | %.2f | %.0f |\n", h, m / h
	printf "| container -> container over pcr0 (includes one container start) | %.2f | %.0f |\n", b, m / b
	printf "bridge/loopback throughput ratio: %.2f\n", h / b
}'
