#!/usr/bin/env bash
# vserver: the node side of PlanetLab at scale on this machine.
#   1. create+start of one vserver (user namespace, idmapped layers, its cgroup and netns), against
#      `pcr run -d` of the same image as the reference, over RUNS runs each;
#   2. one node manager reconciling 50 vservers from a slices file, from start to all running;
#   3. memory per idle vserver with 50 running: the RSS of its own processes (monitor + init), its
#      cgroup's charge, and the drop of MemAvailable divided by the count;
#   4. how many idle vservers fit: create COUNT (default 500) on a /22 network in batches of 50,
#      recording time per vserver and MemAvailable per vserver as the count grows, then remove all.
# Needs root, bin/pcr and `make fixtures`. Usage: bench/vserver.sh [COUNT] [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${1:-500}
runs=${2:-10}
pcr=$PWD/bin/pcr
tarball=$PWD/rootfs-fixtures/build/busybox.tar
[[ -x $pcr && -f $tarball ]] || { echo "vserver: run make build fixtures first" >&2; exit 1; }
work=$(mktemp -d /tmp/pcr-bench-vs.XXXXXX)
# A vserver's root is an ordinary host user: it must be able to pass through to its rootfs.
chmod 711 "$work"
p() { "$pcr" --root "$work/root" --state "$work/state" "$@"; }
daemon=
cleanup() {
	[[ -n $daemon ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
	p vserver ls -q 2>/dev/null | xargs -r -n 50 "$pcr" --root "$work/root" --state "$work/state" vserver rm >/dev/null 2>&1 || true
	p rm -f $(p ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	p network rm vsbench >/dev/null 2>&1 || true
	p network rm bridge >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
p import "$tarball" busybox >/dev/null
now_ms() { echo $(($(date +%s%N) / 1000000)); }
mem_avail_kb() { awk '/MemAvailable/ {print $2}' /proc/meminfo; }

echo "## vserver benchmark: $(nproc) cores, kernel $(uname -r), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "### 1. create+start one vserver vs pcr run -d (mean of $runs, ms)"
vs_total=0 run_total=0
for i in $(seq "$runs"); do
	t0=$(now_ms); p vserver create bench_one --image busybox >/dev/null; t1=$(now_ms)
	p vserver rm bench_one >/dev/null
	t2=$(now_ms); p run -d --name ref busybox sleep 1000 >/dev/null; t3=$(now_ms)
	p rm -f ref >/dev/null
	vs_total=$((vs_total + t1 - t0)) run_total=$((run_total + t3 - t2))
done
echo "| vserver create (start included) | $((vs_total / runs)) ms |"
echo "| pcr run -d busybox sleep | $((run_total / runs)) ms |"
echo

echo "### 2. node manager: reconcile 50 vservers from a slices file"
{
	echo '{"slices":['
	for i in $(seq 50); do
		sep=,; [[ $i == 50 ]] && sep=
		echo "{\"slice\":\"bench_s$i\",\"image\":\"busybox\",\"rspec\":{\"memory\":\"64M\",\"pids\":64}}$sep"
	done
	echo ']}'
} >"$work/slices.json"
base_kb=$(mem_avail_kb)
t0=$(now_ms)
setsid "$pcr" --root "$work/root" --state "$work/state" node serve --slices "$work/slices.json" --interval 2s 2>"$work/node.log" &
daemon=$!
while (($(p vserver ls --format json 2>/dev/null | grep -c '"state":"running"') < 50)); do
	sleep 0.1
	(($(now_ms) - t0 > 300000)) && { echo "not all 50 running after 300 s" >&2; tail "$work/node.log" >&2; exit 1; }
done
t1=$(now_ms)
echo "| 50 vservers reconciled to running | $((t1 - t0)) ms | $(((t1 - t0) / 50)) ms per vserver |"
echo

echo "### 3. memory per idle vserver (50 running)"
sleep 2
used_kb=$((base_kb - $(mem_avail_kb)))
rss_kb=0 charge=0 n=0
for id in $(p vserver ls --format json | python3 -c 'import json,sys; [print(json.loads(l)["containerId"]) for l in sys.stdin]'); do
	pid=$(p inspect "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["State"]["Pid"])')
	# The monitor waits for the run outside the container's cgroup; the record names it.
	mon=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("monitor",0))' "$work/root/containers/$id/record.json")
	for q in $pid $mon; do
		[[ $q -gt 0 && -r /proc/$q/status ]] && rss_kb=$((rss_kb + $(awk '/VmRSS/ {print $2}' /proc/$q/status)))
	done
	cg=$(awk -F: '$2 ~ /memory/ || $2 == "" {print $3; exit}' /proc/$pid/cgroup)
	for f in /sys/fs/cgroup/memory$cg/memory.usage_in_bytes /sys/fs/cgroup$cg/memory.current; do
		[[ -r $f ]] && charge=$((charge + $(cat "$f"))) && break
	done
	n=$((n + 1))
done
echo "| RSS of its own processes (init + monitor) | $((rss_kb / n)) KiB |"
echo "| charged to its memory cgroup | $((charge / n / 1024)) KiB |"
echo "| MemAvailable drop / count (all kernel objects) | $((used_kb / n)) KiB |"
kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
p vserver ls -q | xargs -r -n 50 "$pcr" --root "$work/root" --state "$work/state" vserver rm >/dev/null
echo

echo "### 4. idle vservers on one node: $count on a /22 network"
p network create --subnet 10.213.252.0/22 vsbench >/dev/null
base_kb=$(mem_avail_kb)
echo "| vservers | ms per create (last 50) | MemAvailable used per vserver |"
echo "|---|---|---|"
made=0
t0=$(now_ms)
for i in $(seq "$count"); do
	if ! p vserver create "scale_v$i" --image busybox --network vsbench >/dev/null 2>"$work/err"; then
		echo "stopped at $made: $(cat "$work/err")"
		break
	fi
	made=$i
	if ((i % 50 == 0)); then
		t1=$(now_ms)
		echo "| $i | $(((t1 - t0) / 50)) | $(((base_kb - $(mem_avail_kb)) / i)) KiB |"
		t0=$t1
	fi
done
echo
echo "$made idle vservers ran at once; MemAvailable left: $(($(mem_avail_kb) / 1024)) MiB"
t0=$(now_ms)
p vserver ls -q | xargs -r -n 50 "$pcr" --root "$work/root" --state "$work/state" vserver rm >/dev/null
echo "removed them in $(($(now_ms) - t0)) ms"
