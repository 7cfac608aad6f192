#!/usr/bin/env bash
# memory: what a container costs in memory, pcr against its peers in the same run.
#   1. peak RSS of one `run` (GNU time's maximum resident set size, median and mean of RUNS): pcr-oci
#      run, runc run, crun run from one busybox bundle; pcr run --rm vs podman run --rm;
#   2. memory per detached container with COUNT running `sleep`: the charge of each container's
#      memory cgroup, the RSS of what stays outside it per container (pcr's monitor, podman's
#      conmon), and MemAvailable's drop over the count; runtimes and engines;
#   3. the smallest memory limit with which `run /bin/true` still succeeds, by bisection to 64 KiB.
# Needs root, GNU time, podman, runc, crun, bin/pcr and `make fixtures`.
# Usage: bench/memory.sh (MEM_RUNS / BENCH_RUNS, default 5; MEM_COUNT, default 50)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need podman runc crun unshare /usr/bin/time gcc
nruns=$(runs MEM_RUNS 15)
count=${MEM_COUNT:-50}
tarball=$fixtures/busybox.tar
[[ -f $tarball ]] || die "the busybox fixture is missing: run make fixtures"
# ids carry this prefix, so that whatever a runtime leaves behind after an OOM kill is found by name
prefix=pcrbench$$

workdir work memory
podman_private "$work"
p() { "$pcr" --root "$work/root" --state "$work/state" "$@"; }
on_exit 'p rm -f $(p ps -aq 2>/dev/null) >/dev/null 2>&1'
on_exit '_remove_runtime_leftovers'
_remove_runtime_leftovers() {
	local r id
	for r in pcr runc crun; do
		rt_cmd "$r"
		for id in $(ls "$work/rt-$r" 2>/dev/null); do "${rt[@]}" delete -f "$id"; done
	done
	# cgroups a runtime made for one of ours and left behind: only names with our prefix, deepest first
	find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d -name "$prefix-*" 2>/dev/null | sort -r | xargs -r rmdir 2>/dev/null
	return 0
} >/dev/null 2>&1
# rt_cmd RUNTIME: the array rt is that runtime's command with its own state root.
rt_cmd() {
	case $1 in
	pcr) rt=("$pcr_oci" --root "$work/rt-pcr") ;;
	runc) rt=(runc --root "$work/rt-runc") ;;
	crun) rt=("${crun_wrapper[@]}" crun --root "$work/rt-crun") ;;
	esac
}
crun_wrapper=()
[[ -n $(crun_wrap) ]] && crun_wrapper=(unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$0" "$@"')
p import "$tarball" busybox >/dev/null
$podman_cmd import -q "$tarball" pcr-bench-busybox >/dev/null
ulimits="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
busybox_bundle "$work/true" /bin/true
busybox_bundle "$work/sleep" sleep 3600
param runs "$nruns"
param count "$count"

about <<EOF
*Peak RSS*: GNU \`/usr/bin/time\`'s maximum resident set size (the largest process of the command's
tree that was waited for; pcr's binaries run from an installed copy, as the peers' do), the median and mean of $nruns runs of \`run /bin/true\` from one busybox bundle
(runtimes) and of \`run --rm --net none busybox true\` (engines; podman's conmon is not its child,
so podman's figure is podman's own). The kernel fills that figure in at exit from RSS counters it
keeps per CPU without summing them: exact enough for a single-threaded program, 150-300 KiB low,
in 128 KiB steps, for a multi-threaded Go one. So each row is also taken under
\`bench/peakrss\` (ptrace; every process and thread of the command, followed): the largest
\`VmHWM\` of \`/proc/PID/status\`, which sums the counters, read as each process exits — the
exact peak, and the one to compare. A process that execs is counted as the program it ends as. *Per detached container*: $count containers running \`sleep\`
started one after the other, then for each its memory cgroup's charge (v1 \`memory.usage_in_bytes\`,
v2 \`memory.current\`) and the RSS of the helper each keeps outside its cgroup (pcr's monitor,
podman's conmon; the OCI runtimes keep none), averaged; *MemAvailable drop* is
\`/proc/meminfo\`'s MemAvailable before minus with all $count running, over $count — it counts
kernel objects too (namespaces, mounts, page tables) and what else ran on the machine meanwhile.
*Smallest limit*: \`linux.resources.memory.limit\` in the bundle, bisected to 64 KiB between 0 and
64 MiB; a limit passes when \`run /bin/true\` exits 0 within 20 s.$([[ -n $(crun_wrap) ]] && echo " crun runs behind
the private-mount-namespace wrapper of oci-start (its cgroups are then v1).")
EOF

# 1. peak RSS
# median and mean of numbers on stdin; the kernel maps file pages 64 KiB at a time, so a median
# moves in such steps and the mean says more about a small difference.
median_mean() { sort -n | awk '{a[NR] = $1; s += $1} END {printf "%d %d\n", a[int((NR + 1) / 2)], s / NR}'; }
gcc -O2 -Wall -o "$work/peakrss" "$bench_dir/peakrss.c" || die "build bench/peakrss.c"
row_peak() { # NAME CMD...: median and mean over nruns of GNU time's maximum RSS and of the exact peak, KiB
	local name=$1 i kbs hwms kb mean hkb hmean
	shift
	kbs=$(for ((i = 0; i < nruns; i++)); do
		/usr/bin/time -f 'maxrss %M' -o "$work/time.out" "$@" </dev/null >/dev/null 2>&1 || { echo "$name failed" >&2; exit 1; }
		awk '/^maxrss/ {print $2}' "$work/time.out"
	done) || die "peak RSS: $name failed"
	hwms=$(for ((i = 0; i < nruns; i++)); do
		"$work/peakrss" -o "$work/peak.out" "$@" </dev/null >/dev/null 2>&1 || { echo "$name failed under peakrss" >&2; exit 1; }
		cat "$work/peak.out"
	done) || die "exact peak RSS: $name failed"
	read -r kb mean <<<"$(median_mean <<<"$kbs")"
	read -r hkb hmean <<<"$(median_mean <<<"$hwms")"
	echo "| $name | $kb | $mean | $hkb | $hmean |"
	fig "peak RSS: $name" "$kb" KiB
	fig "peak RSS, mean: $name" "$mean" KiB
	fig "exact peak RSS: $name" "$hkb" KiB
	fig "exact peak RSS, mean: $name" "$hmean" KiB
}
log "peak RSS, $nruns runs each"
echo "### Peak RSS of one run ($nruns runs each)"
echo
echo "| command | GNU time median KiB | mean KiB | exact peak (VmHWM) median KiB | mean KiB |"
echo "|---|---|---|---|---|"
n=0
cd "$work/true"
for r in pcr runc crun; do
	rt_cmd "$r"
	row_peak "$r$([[ $r == pcr ]] && echo "-oci") run" "${rt[@]}" run "$prefix-a$((n++))"
done
cd "$repo"
row_peak "pcr run --rm --net none" "$pcr" --root "$work/root" --state "$work/state" run --rm --net none busybox true
row_peak "podman run --rm --network none (runc)" $podman_cmd --runtime runc run --rm --network none $ulimits pcr-bench-busybox true
echo

# 2. per detached container. Each kind: start_KIND I, pids_KIND ("PID HELPER_PID" per container,
# HELPER_PID 0 when it keeps none), stop_KIND; the runtimes' (kind rt) act on runtime $r.
start_rt() { (cd "$work/sleep" && "${rt[@]}" run -d "$prefix-d$1" </dev/null >/dev/null 2>&1); }
pids_rt() {
	local id
	for id in $(ls "$work/rt-$r"); do
		"${rt[@]}" state "$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"], 0)'
	done
}
stop_rt() { local id; for id in $(ls "$work/rt-$r"); do "${rt[@]}" delete -f "$id" >/dev/null; done; }
start_pcr_engine() { p run -d --net none --name "$prefix-e$1" busybox sleep 3600 >/dev/null; }
pids_pcr_engine() {
	# The monitor waits for the container outside its cgroup; the engine's record names it.
	p inspect $(p ps -q --no-trunc) | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    r = json.load(open(sys.argv[1] + "/" + c["Id"] + "/record.json"))
    print(c["State"]["Pid"], r.get("monitor", 0))' "$work/root/containers"
}
stop_pcr_engine() { p rm -f $(p ps -aq) >/dev/null; }
start_podman() { $podman_cmd --runtime runc run -d --network none $ulimits pcr-bench-busybox sleep 3600 >/dev/null; }
pids_podman() { $podman_cmd ps -q | xargs -r $podman_cmd inspect --format '{{.State.Pid}} {{.State.ConmonPid}}'; }
stop_podman() { $podman_cmd rm -af -t 0 >/dev/null; }

detached() { # NAME KIND
	local name=$1 kind=$2 base t0 t1 i charge=0 helper=0 n=0 pid mon drop
	log "$count detached: $name"
	sync
	base=$(mem_avail_kb)
	t0=$(now_ms)
	for ((i = 0; i < count; i++)); do "start_$kind" "$i" || die "$name: start $i failed"; done
	t1=$(now_ms)
	sleep 2
	drop=$(((base - $(mem_avail_kb)) / count))
	while read -r pid mon; do
		charge=$((charge + $(cgroup_mem_bytes "$pid")))
		[[ $mon -gt 0 ]] && helper=$((helper + $(rss_kb "$mon")))
		n=$((n + 1))
	done < <("pids_$kind")
	((n == count)) || die "$name: found $n of $count containers"
	echo "| $name | $((charge / n / 1024)) | $((helper / n)) | $drop | $(awk -v t=$((t1 - t0)) 'BEGIN {printf "%.1f", t / 1000}') |"
	fig "per container, cgroup charge: $name" $((charge / n / 1024)) KiB
	fig "per container, helper RSS: $name" $((helper / n)) KiB
	fig "per container, MemAvailable drop: $name" "$drop" KiB
	"stop_$kind"
}
echo "### Memory per detached container, $count running \`sleep\`"
echo
echo "| what | cgroup charge KiB | helper RSS KiB (outside the cgroup) | MemAvailable drop KiB | s to start all $count |"
echo "|---|---|---|---|---|"
for r in pcr runc crun; do
	rt_cmd "$r"
	detached "$r$([[ $r == pcr ]] && echo "-oci") run -d" rt
done
detached "pcr run -d --net none" pcr_engine
detached "podman run -d --network none (runc)" podman
echo

# 3. the smallest memory limit
passes() { # RUNTIME KIB: whether run /bin/true succeeds under that limit
	local id=$prefix-m$((n++)) rc=0
	python3 - "$work/true/config.json" "$work/limit/config.json" "$2" <<-'PY'
		import json, sys
		c = json.load(open(sys.argv[1]))
		c["linux"].setdefault("resources", {})["memory"] = {"limit": int(sys.argv[3]) * 1024}
		c["root"]["path"] = sys.argv[1].replace("config.json", "rootfs")
		json.dump(c, open(sys.argv[2], "w"))
	PY
	(cd "$work/limit" && timeout 20 "${rt[@]}" run "$id" </dev/null >/dev/null 2>&1) || rc=$?
	"${rt[@]}" delete -f "$id" >/dev/null 2>&1 || true
	return $rc
}
min_limit() { # RUNTIME: the smallest passing limit in KiB, to 64 KiB
	local lo=0 hi=65536 mid
	passes "$1" "$hi" || { echo ">$hi"; return; }
	while ((hi - lo > 64)); do
		mid=$(((lo + hi) / 2 / 64 * 64))
		((mid > lo)) || mid=$((lo + 64))
		if passes "$1" "$mid"; then hi=$mid; else lo=$mid; fi
	done
	echo "$hi"
}
mkdir -p "$work/limit"
echo "### Smallest memory limit for \`run /bin/true\`"
echo
echo "| runtime | smallest passing limit KiB | largest failing KiB |"
echo "|---|---|---|"
for r in pcr runc crun; do
	log "smallest memory limit: $r"
	rt_cmd "$r"
	kb=$(min_limit "$r")
	if [[ $kb == ">"* ]]; then
		echo "| $r | none up to 64 MiB | — |"
		fig "smallest memory limit: $r" -1 KiB "fails even at 64 MiB"
	else
		echo "| $r | $kb | $((kb - 64)) |"
		fig "smallest memory limit: $r" "$kb" KiB
	fi
done
