# bench/lib.sh: what every benchmark group shares. Sourced by bench/<group>.sh, never run.
#
# A group prints its results as markdown on stdout (progress goes to stderr) and records each
# figure with `fig`; at exit the figures become the JSON fragment named by BENCH_JSON, which
# bench/run.sh puts into bench/results/<date>.json. Run alone, a group prints its markdown and
# writes no JSON unless BENCH_JSON is set.
#
# Every group is bounded in count and time, sends traffic only to loopback or into namespaces it
# made, and takes away at exit (also on failure or SIGTERM) everything it made.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bench_dir")
# The system's tools first (Debian's python3, not a per-user shim that costs half a second a call).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH:/usr/local/go/bin
pcr=${PCR:-$repo/bin/pcr}
# The OCI runtime binary, as podman and the OCI suite run it (slim: the runtime and cgroups only).
pcr_oci=${PCR_OCI:-$(dirname "$pcr")/pcr-oci}
fixtures=$repo/rootfs-fixtures/build
group=$(basename "${BASH_SOURCE[1]}" .sh)

log() { printf '%s: %s\n' "$group" "$*" >&2; }
die() { log "$*"; exit 1; }

# need CMD...: fail early, with the package to install, when a tool is missing.
need() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null || die "$c is not installed (make bench installs it)"; done
}

# Cleanups run last-registered-first at exit, whatever the exit path.
_figs=$(mktemp /tmp/pcr-bench-figs.XXXXXX)
_params=$(mktemp /tmp/pcr-bench-params.XXXXXX)
_about=$(mktemp /tmp/pcr-bench-about.XXXXXX)
_cleanups=()
on_exit() { _cleanups+=("$*"); }
_run_cleanups() {
	local rc=$? i
	set +e
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}"; done
	_write_fragment
	exit "$rc"
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# workdir VAR NAME: VAR names a fresh directory in /tmp, removed at exit after everything
# registered later. What is still mounted below it then (only the group's own mounts can be) is
# detached first, so rm never reaches into another filesystem.
workdir() {
	local d
	d=$(mktemp -d "/tmp/pcr-bench-$2.XXXXXX")
	on_exit "_rm_workdir '$d'"
	printf -v "$1" %s "$d"
}
_rm_workdir() {
	awk -v w="$1/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
	rm -rf "$1"
}

# runs VAR DEFAULT: a repetition count; BENCH_RUNS overrides every group's default at once.
runs() { local v=${!1:-${BENCH_RUNS:-$2}}; [[ $v =~ ^[1-9][0-9]*$ ]] || die "$1=$v is not a count"; echo "$v"; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
load() { cut -d' ' -f1-3 /proc/loadavg; }
mem_avail_kb() { awk '/^MemAvailable:/ {print $2}' /proc/meminfo; }

# cgroup_mode: v2 (unified), hybrid (v1 controllers and a cgroup2 mount beside them) or v1.
cgroup_mode() {
	if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
		echo v2
	elif [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
		echo hybrid
	else
		echo v1
	fi
}

# crun 1.8 refuses hybrid cgroups. On hybrid, crun's commands run in a private mount namespace
# with the cgroup2 mount removed there (the host keeps it); pcr gets a row behind the same
# wrapper so the comparison stays fair. Elsewhere the wrapper is empty and those rows are
# the plain ones. crun_wrap prints the wrapper as a command prefix for hyperfine:
# "$(crun_wrap) crun --root DIR run ID"; wrapped runs a command behind it.
crun_wrap() {
	[[ $(cgroup_mode) == hybrid ]] && echo "unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec \"\$0\" \"\$@\"'"
	return 0
}
# wrapped CMD...: run CMD behind crun's wrapper (directly when none is needed).
wrapped() {
	if [[ $(cgroup_mode) == hybrid ]]; then
		unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$0" "$@"' "$@"
	else
		"$@"
	fi
}

# cgroup_mem_bytes PID: the memory charged to PID's memory cgroup (v1 usage, v2 current).
cgroup_mem_bytes() {
	local cg f
	cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' "/proc/$1/cgroup")
	if [[ -n $cg ]]; then
		f=/sys/fs/cgroup/memory$cg/memory.usage_in_bytes
	else
		cg=$(awk -F: '$1 == 0 {print $3; exit}' "/proc/$1/cgroup")
		f=/sys/fs/cgroup$cg/memory.current
	fi
	cat "$f"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# busybox_bundle DIR ARGS...: an OCI bundle in DIR from the busybox fixture running ARGS, no
# terminal, ociVersion 1.0.2 (the newest crun 1.8 and runc 1.1 accept; it means the same to all).
busybox_bundle() {
	local dir=$1
	shift
	[[ -d $fixtures/busybox/rootfs ]] || die "the busybox fixture is missing: run make fixtures"
	mkdir -p "$dir"
	cp -a "$fixtures/busybox/rootfs" "$dir/rootfs"
	(cd "$dir" && "$pcr" oci spec)
	python3 - "$dir/config.json" "$@" <<-'PY'
		import json, sys
		path, args = sys.argv[1], sys.argv[2:]
		c = json.load(open(path))
		c["ociVersion"] = "1.0.2"
		c["process"]["terminal"] = False
		c["process"]["args"] = args
		json.dump(c, open(path, "w"), indent=1)
	PY
}

# pcr's default network (bridge pcr0, nft table inet pcr) is host-wide. A group whose containers
# may create it calls this first: at exit, what was not there before goes again, unless
# something else has attached a container to the bridge in the meantime.
keep_pcr_default_network() {
	local had_bridge=0 had_table=0
	[[ -e /sys/class/net/pcr0 ]] && had_bridge=1
	nft list table inet pcr >/dev/null 2>&1 && had_table=1
	on_exit "_restore_pcr_default_network $had_bridge $had_table"
}
_restore_pcr_default_network() {
	[[ -e /sys/class/net/pcr0 ]] || return 0
	[[ -n $(ls /sys/class/net/pcr0/brif 2>/dev/null) ]] && return 0
	[[ $1 == 0 ]] && ip link del pcr0 2>/dev/null
	[[ $2 == 0 ]] && nft delete table inet pcr 2>/dev/null
	return 0
}

# podman with its own storage in WORK (images, containers, run state): the host's podman store
# is neither read nor changed. netavark's firewall rules are host-wide: the rules and chains it
# adds to iptables' nat and filter tables, and the tables themselves when they were not there,
# go again at exit.
podman_private() {
	local work=$1 t
	mkdir -p "$work/podman"
	podman_cmd="podman --root $work/podman/root --runroot $work/podman/run --tmpdir $work/podman/tmp"
	for t in nat filter; do
		if nft list table ip "$t" >/dev/null 2>&1; then
			iptables-save -t "$t" >"$work/podman/iptables-$t.before"
		else
			: >"$work/podman/iptables-$t.before"
		fi
	done
	on_exit "_podman_private_cleanup '$work'"
}
_podman_private_cleanup() {
	local work=$1 t line chain
	$podman_cmd rm -af -t 0 >/dev/null 2>&1
	$podman_cmd rmi -af >/dev/null 2>&1
	for t in nat filter; do
		nft list table ip "$t" >/dev/null 2>&1 || continue
		iptables-save -t "$t" | grep '^-A .*NETAVARK' | while IFS= read -r line; do
			grep -qxF -- "$line" "$work/podman/iptables-$t.before" || eval "iptables -t $t ${line/#-A/-D}"
		done
		iptables-save -t "$t" | sed -n 's/^:\(NETAVARK[^ ]*\) .*/\1/p' | while IFS= read -r chain; do
			grep -q "^:$chain " "$work/podman/iptables-$t.before" || iptables -t "$t" -X "$chain"
		done
		if [[ ! -s $work/podman/iptables-$t.before ]] && ! iptables-save -t "$t" | grep -q '^-A'; then
			nft delete table ip "$t"
		fi
	done
	return 0
}

# Figures: fig NAME VALUE UNIT [NOTE] records one measurement; the JSON fragment holds them all.
# Plain tab-separated lines: report.py turns them into JSON once, at the end.
fig() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$_figs"; }
param() { printf '%s\t%s\t\t\n' "$1" "$2" >>"$_params"; }

# hyperfine_table TITLE RESULT_JSON BASE [ROW=ROWBASE...]: the markdown table of a hyperfine run,
# each row's mean also as a ratio to BASE's (or to ROWBASE's for the rows named), recorded as
# figures too.
hyperfine_table() { python3 "$bench_dir/report.py" hyperfine "$_figs" "$@"; }

# hyperfine_rounds OUT RUNS WARMUP hyperfine-args...: RUNS runs of each command in BENCH_ROUNDS
# (default 5) rounds, every command in each round, merged into the one hyperfine JSON OUT. Rows
# run one after the other, so a burst of load from the machine's neighbours lands on one row; in
# rounds it is spread over all of them, and the ratios hold from run to run.
hyperfine_rounds() {
	local out=$1 nruns=$2 warmup=$3 rounds=${BENCH_ROUNDS:-5} i
	shift 3
	((rounds >= 1 && rounds <= nruns)) || die "BENCH_ROUNDS=$rounds: want 1 to $nruns"
	local per=$(((nruns + rounds - 1) / rounds)) parts=()
	for ((i = 0; i < rounds; i++)); do
		hyperfine -N --style basic --warmup "$warmup" --runs "$per" --export-json "$out.$i" "$@" >&2 || return
		parts+=("$out.$i")
		warmup=1
	done
	python3 "$bench_dir/report.py" merge "$out" "${parts[@]}"
	rm -f "${parts[@]}"
}

# about: what the group's figures mean and how they were taken (markdown on stdin); it heads
# the results file. Run alone, the group prints it before its results.
about() {
	cat >"$_about"
	[[ -n ${BENCH_JSON:-} ]] || { cat "$_about"; echo; }
}

_write_fragment() {
	if [[ -n ${BENCH_JSON:-} ]]; then
		python3 "$bench_dir/report.py" fragment "$group" "$_figs" "$_params" "$_about" >"$BENCH_JSON" ||
			log "could not write $BENCH_JSON"
	fi
	rm -f "$_figs" "$_params" "$_about"
}

[[ $(id -u) == 0 ]] || die "needs root (namespaces, cgroups, mounts)"
[[ -x $pcr ]] || die "$pcr is missing: run make build (or make bench)"

need python3
