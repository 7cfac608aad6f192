#!/usr/bin/env bash
# vserver: the node side of PlanetLab at scale on this machine.
#   1. create+start of one vserver (user namespace, idmapped layers, its cgroup and netns), against
#      `pcr run -d` of the same image as the reference, over RUNS runs each;
#   2. one node manager reconciling 50 vservers from a slices file, from start to all running;
#   3. memory per idle vserver with 50 running: the RSS of its own processes (monitor + init), its
#      cgroup's charge, and the drop of MemAvailable divided by the count;
#   4. how many idle vservers fit: create COUNT (default 100; 500 shows the trend better but takes
#      minutes) on a /22 network in batches of 50, recording time per vserver and MemAvailable per
#      vserver as the count grows, then remove all.
# Needs root, bin/pcr and `make fixtures`.
# Usage: bench/vserver.sh [COUNT] [RUNS] (or VSERVER_COUNT, VSERVER_RUNS / BENCH_RUNS; default 100, 5)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
count=${1:-${VSERVER_COUNT:-100}}
runs=${2:-$(runs VSERVER_RUNS 5)}
tarball=$fixtures/busybox.tar
[[ -f $tarball ]] || die "the busybox fixture is missing: run make fixtures"
# pcr run -d and vserver create without --network use pcr's default network
keep_pcr_default_network
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
on_exit cleanup
p import "$tarball" busybox >/dev/null
param count "$count"
param runs "$runs"

about <<EOF
*Create+start*: \`pcr vserver create NAME --image busybox\` (its user namespace and host UID range,
idmapped layers, cgroup, netns on pcr's default network; returns once its init runs) against
\`pcr run -d busybox sleep\` as the reference, the mean of $runs each, every one removed again.
*Node manager*: \`pcr node serve\` given a slices file of 50 slices (64M memory, 64 pids each), the
time from its start until \`vserver ls\` shows all 50 running. *Memory per idle vserver* with those
50 running: the RSS of its own processes (its init and the monitor outside its cgroup), its memory
cgroup's charge, and MemAvailable's drop over the count (kernel objects included). *Idle vservers on
one node*: $count created one after the other on a /22 network of their own, the mean create time
of each 50 and MemAvailable's drop per vserver so far; then all removed.
EOF

echo "### 1. create+start one vserver vs pcr run -d (mean of $runs, ms)"
echo
echo "| what | ms |"
echo "|---|---|"
vs_total=0 run_total=0
for i in $(seq "$runs"); do
	t0=$(now_ms); p vserver create bench_one --image busybox >/dev/null; t1=$(now_ms)
	p vserver rm bench_one >/dev/null
	t2=$(now_ms); p run -d --name ref busybox sleep 1000 >/dev/null; t3=$(now_ms)
	p rm -f ref >/dev/null
	vs_total=$((vs_total + t1 - t0)) run_total=$((run_total + t3 - t2))
done
echo "| vserver create (start included) | $((vs_total / runs)) |"
echo "| pcr run -d busybox sleep | $((run_total / runs)) |"
fig "vserver create (start included)" $((vs_total / runs)) ms
fig "pcr run -d busybox sleep" $((run_total / runs)) ms
echo

echo "### 2. node manager: reconcile 50 vservers from a slices file"
echo
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
echo "| what | ms | ms per vserver |"
echo "|---|---|---|"
echo "| 50 vservers reconciled to running | $((t1 - t0)) | $(((t1 - t0) / 50)) |"
fig "node manager: 50 vservers reconciled to running" $((t1 - t0)) ms
echo

echo "### 3. memory per idle vserver (50 running)"
echo
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
echo "| per idle vserver | KiB |"
echo "|---|---|"
echo "| RSS of its own processes (init + monitor) | $((rss_kb / n)) |"
echo "| charged to its memory cgroup | $((charge / n / 1024)) |"
echo "| MemAvailable drop / count (all kernel objects) | $((used_kb / n)) |"
fig "idle vserver: RSS of its processes (init + monitor)" $((rss_kb / n)) KiB
fig "idle vserver: memory cgroup charge" $((charge / n / 1024)) KiB
fig "idle vserver: MemAvailable drop" $((used_kb / n)) KiB
kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
p vserver ls -q | xargs -r -n 50 "$pcr" --root "$work/root" --state "$work/state" vserver rm >/dev/null
echo

echo "### 4. idle vservers on one node: $count on a /22 network"
echo
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
		fig "vservers $((i - 49))-$i: create" $(((t1 - t0) / 50)) "ms per vserver"
		fig "$i vservers: MemAvailable drop" $(((base_kb - $(mem_avail_kb)) / i)) "KiB per vserver"
		t0=$t1
	fi
done
echo
echo "$made idle vservers ran at once; MemAvailable left: $(($(mem_avail_kb) / 1024)) MiB"
fig "idle vservers running at once" "$made" ""
t0=$(now_ms)
p vserver ls -q | xargs -r -n 50 "$pcr" --root "$work/root" --state "$work/state" vserver rm >/dev/null
t1=$(now_ms)
echo "removed them in $((t1 - t0)) ms"
fig "remove all $made vservers" $((t1 - t0)) ms
