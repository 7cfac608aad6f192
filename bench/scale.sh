#!/usr/bin/env bash
# scale: many containers.
#   1. start COUNT detached containers (`run -d`, busybox `sleep`) from one bundle, then kill and
#      delete them (`delete --force`), one after the other and 8 at a time: pcr-oci, runc, crun;
#   2. SCALE_COUNT detached `pcr run -d --net none` containers one after the other: the time per
#      container and the memory per container as the count grows, then all removed.
# Needs root, runc, crun, bin/pcr and `make fixtures`.
# Usage: bench/scale.sh (SCALE_BATCH, default 50; SCALE_COUNT, default 1000; SCALE_PARALLEL, default 8)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need runc crun unshare xargs
batch=${SCALE_BATCH:-50}
total=${SCALE_COUNT:-1000}
par=${SCALE_PARALLEL:-8}
step=$(((total + 9) / 10))
tarball=$fixtures/busybox.tar
[[ -f $tarball ]] || die "the busybox fixture is missing: run make fixtures"
prefix=pcrbench$$

workdir work scale
p() { "$pcr" --root "$work/root" --state "$work/state" "$@"; }
on_exit '_remove_all'
_remove_all() {
	local r id
	p ps -aq --no-trunc 2>/dev/null | xargs -r -n 50 -P 4 "$pcr" --root "$work/root" --state "$work/state" rm -f
	for r in pcr runc crun; do
		rt_cmd "$r"
		for id in $(ls "$work/rt-$r" 2>/dev/null); do "${rt[@]}" delete -f "$id"; done
	done
	find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -type d -name "$prefix-*" 2>/dev/null | sort -r | xargs -r rmdir 2>/dev/null
	return 0
} >/dev/null 2>&1
crun_wrapper=()
[[ -n $(crun_wrap) ]] && crun_wrapper=(unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$0" "$@"')
rt_cmd() { # RUNTIME: the array rt is that runtime's command with its own state root
	case $1 in
	pcr) rt=("$pcr_oci" --root "$work/rt-pcr") ;;
	runc) rt=(runc --root "$work/rt-runc") ;;
	crun) rt=("${crun_wrapper[@]}" crun --root "$work/rt-crun") ;;
	esac
}
busybox_bundle "$work/sleep" sleep 3600
p import "$tarball" busybox >/dev/null
param batch "$batch"
param count "$total"
param parallel "$par"

about <<EOF
*Start / kill+delete*: $batch detached containers running busybox \`sleep\` from one bundle
(\`run -d ID\`), then each removed with \`delete --force ID\` (SIGKILL, wait, delete), first one
after the other, then $par at a time (\`xargs -P $par\`); wall time over the count, in ms per
container.$([[ -n $(crun_wrap) ]] && echo " crun runs behind the private-mount-namespace wrapper of oci-start.")
*$total containers*: \`pcr run -d --net none busybox sleep 3600\` one after the other (engine path:
image, overlay, monitor, cgroup; no network, as the default bridge network is a /24); every $step
containers the mean start time of those $step, MemAvailable's drop since the start over the count
so far (kernel objects included, and whatever else the machine did meanwhile), and the mean memory
cgroup charge of the last $step. Then all are removed with \`pcr rm -f\` (50 ids a call, 4 calls at a
time) and the time per container is given.
EOF

secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", (b - a) / 1000}'; }
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.1f", (b - a) / n}'; }

# 1. start, then kill+delete
echo "### Start, then kill+delete, $batch detached containers"
echo
echo "| runtime | start ms/ctr (sequential) | kill+delete ms/ctr (sequential) | start ms/ctr ($par-way) | kill+delete ms/ctr ($par-way) |"
echo "|---|---|---|---|---|"
running() { "${rt[@]}" list 2>/dev/null | awk 'NR > 1 && $3 == "running"' | wc -l; }
for r in pcr runc crun; do
	rt_cmd "$r"
	row=("$r")
	for mode in seq par; do
		log "$r: $batch containers, $mode"
		ids=$(seq -f "$prefix-$mode%g" "$batch")
		jobs=1
		[[ $mode == par ]] && jobs=$par
		t0=$(now_ms)
		(cd "$work/sleep" && echo "$ids" | xargs -P "$jobs" -I{} "${rt[@]}" run -d {} >/dev/null 2>&1) || true
		t1=$(now_ms)
		n=$(running)
		((n == batch)) || die "$r: $n of $batch containers running after run -d"
		echo "$ids" | xargs -P "$jobs" -I{} "${rt[@]}" delete -f {} >/dev/null 2>&1 || true
		t2=$(now_ms)
		[[ -z $(ls "$work/rt-$r" 2>/dev/null) ]] || die "$r: containers left after delete -f"
		row+=("$(per "$t0" "$t1" "$batch")" "$(per "$t1" "$t2" "$batch")")
		fig "$r: start ($mode, $jobs at a time)" "$(per "$t0" "$t1" "$batch")" "ms per container"
		fig "$r: kill+delete ($mode, $jobs at a time)" "$(per "$t1" "$t2" "$batch")" "ms per container"
	done
	echo "| ${row[0]} | ${row[1]} | ${row[2]} | ${row[3]} | ${row[4]} |"
done
echo

# 2. many engine containers
echo "### $total detached \`pcr run -d --net none\` containers"
echo
echo "| containers | start ms/ctr (last $step) | MemAvailable drop KiB/ctr (all so far) | cgroup charge KiB/ctr (last $step) |"
echo "|---|---|---|---|"
sync
base=$(mem_avail_kb)
t0=$(now_ms)
made=0
for ((i = 1; i <= total; i++)); do
	p run -d --net none --name "$prefix-c$i" busybox sleep 3600 >"$work/id" 2>"$work/err" ||
		{ echo; echo "stopped at $made: $(head -1 "$work/err")"; break; }
	made=$i
	if ((i % step == 0 || i == total)); then
		t1=$(now_ms)
		n=$((i % step == 0 ? step : i % step))
		# the charge of the last batch's cgroups, through each container's pid
		charge=$(p inspect $(p ps -q --no-trunc | head -n "$n") | python3 -c '
import json, sys
for c in json.load(sys.stdin): print(c["State"]["Pid"])' | while read -r pid; do cgroup_mem_bytes "$pid"; done |
			awk '{s += $1; n++} END {printf "%d", n ? s / n / 1024 : 0}')
		drop=$(((base - $(mem_avail_kb)) / i))
		echo "| $i | $(per "$t0" "$t1" "$n") | $drop | $charge |"
		fig "pcr run -d: start, containers $((i - n + 1))-$i" "$(per "$t0" "$t1" "$n")" "ms per container"
		fig "pcr run -d: MemAvailable drop with $i running" "$drop" "KiB per container"
		fig "pcr run -d: cgroup charge, containers $((i - n + 1))-$i" "$charge" "KiB per container"
		log "$i running"
		t0=$(now_ms)
	fi
done
echo
echo "$made containers ran at once; MemAvailable then: $(($(mem_avail_kb) / 1024)) MiB."
t0=$(now_ms)
p ps -aq --no-trunc | xargs -r -n 50 -P 4 "$pcr" --root "$work/root" --state "$work/state" rm -f >/dev/null
t1=$(now_ms)
left=$(p ps -aq | wc -l)
((left == 0)) || die "$left containers left after rm -f"
echo "Removed all $made in $(secs "$t0" "$t1") s ($(per "$t0" "$t1" "$made") ms per container, 4 \`rm -f\` calls at a time)."
fig "pcr rm -f: remove $made" "$(per "$t0" "$t1" "$made")" "ms per container"
fig "pcr run -d: containers running at once" "$made" ""
