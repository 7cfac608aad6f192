#!/usr/bin/env bash
# bench/run.sh — what `make bench` runs: pcr against its peers on this machine, in one go.
#
#   make bench                       every group: oci-start engine-start memory scale image vserver slices
#   make bench BENCH=oci-start       one group (or several: BENCH="memory scale")
#
# It installs the peers from Debian's packages when they are missing (apt-get; `apt-get update`
# once if a package is unknown), builds the busybox and debian fixtures with `make fixtures` when
# they are missing (into a throwaway pcr root: /var/lib/pcr is not touched), runs each group
# (bench/<group>.sh) with the machine's load noted before it, and writes
# bench/results/<date>.md and .json (the machine, kernel, cgroup mode, versions, and every
# figure) and <date>-startup.png (oci-start's and engine-start's rows relative to pcr's). A run
# of some groups only writes <date>-<groups>.*. Results files written by hand are never
# overwritten.
#
# Counts (environment): BENCH_RUNS overrides every group's repetitions at once (for a quick
# check); OCI_RUNS (50), ENGINE_RUNS (20), MEM_RUNS (5), MEM_COUNT (50), SCALE_BATCH (50),
# SCALE_COUNT (1000), SCALE_PARALLEL (8), IMAGE_RUNS (3), IMAGE_OVERLAY_N (200),
# VSERVER_COUNT (100), VSERVER_RUNS (5), SLICES_RUNS (5), SLICES_NODES (10), SLICES_LOAD_SECONDS (10),
# SLICES_LOAD_WORKERS (8). BENCH_GROUP_TIMEOUT (seconds, 900) bounds each group;
# a group that times out is stopped with SIGTERM and cleans up after itself.
# Needs root and a Debian-like system (apt-get) for the peers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH:/usr/local/go/bin
all_groups=(oci-start engine-start memory scale image vserver slices)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (namespaces, cgroups, mounts, packages)"

groups=()
for g in ${BENCH:-${all_groups[*]}}; do
	g=${g//,/ }
	for h in $g; do
		[[ -x bench/$h.sh && " ${all_groups[*]} " == *" $h "* ]] || die "no benchmark group $h (groups: ${all_groups[*]})"
		groups+=("$h")
	done
done
((${#groups[@]})) || die "BENCH names no group (groups: ${all_groups[*]})"

# Peers, from Debian's packages. netavark and iptables are named because podman only recommends
# them; without them podman would pick another network stack and the bridge row would differ.
install_peers() {
	local pkgs=(runc crun podman netavark iptables nftables conmon hyperfine gnuplot-nox skopeo time python3 util-linux findutils)
	local missing=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them with"
	log "installing ${missing[*]}"
	if ! apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >&2; then
		log "apt-get install failed; updating the package lists once and trying again"
		apt-get update >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null >&2
	fi
}
export DEBIAN_FRONTEND=noninteractive
install_peers

[[ -x bin/pcr ]] || make build >&2
# pcr runs from a copy of bin/ made with install(1), as a package would put it, and as its peers
# are: a file the Go linker has just written sits in the page cache in a state that left
# `pcr run`'s peak RSS 4 MiB higher (19.3 MiB against 15.0 for the same bytes installed, or
# evicted and read back).
installed=$(mktemp -d /var/tmp/pcr-bench-bin.XXXXXX)
trap 'rm -rf "$installed"' EXIT
chmod 0755 "$installed" # vservers' user namespaces bind-mount pcr from here as their init
install -m 0755 bin/pcr bin/pcr-oci bin/pcr-init bin/pcr-authority "$installed/"
export PCR=$installed/pcr
if [[ ! -d rootfs-fixtures/build/busybox/rootfs || ! -f rootfs-fixtures/build/busybox.tar ||
	! -f rootfs-fixtures/build/debian-php.tar ]]; then
	log "building the fixtures (make fixtures; the first time takes minutes)"
	fixture_root=$(mktemp -d /tmp/pcr-bench-fixture-root.XXXXXX)
	make fixtures PCR_ROOT="$fixture_root" >&2 || { rm -rf "$fixture_root"; die "make fixtures failed"; }
	rm -rf "$fixture_root"
fi

date=$(date +%F)
name=$date
[[ ${groups[*]} == "${all_groups[*]}" ]] || name=$date-$(IFS=+; echo "${groups[*]}")
mkdir -p bench/results
# A results file without its JSON beside it was written by hand: keep it, take the next name.
base=bench/results/$name
i=2
while [[ -f $base.md && ! -f $base.json ]]; do base=bench/results/$name-$i; i=$((i + 1)); done

tmp=$(mktemp -d /tmp/pcr-bench-run.XXXXXX)
trap 'rm -rf "$tmp" "$installed"' EXIT
runfile=$tmp/run.jsonl
started=$(date +%s)

cgroup_mode() {
	if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then echo "v2 (unified)"
	elif [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then echo "v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)"
	else echo v1; fi
}
first_line() { "$@" 2>/dev/null | head -1 || true; }
CGROUP=$(cgroup_mode) \
	V_PCR="$(bin/pcr --version | head -1 | sed 's/^pcr version //')" \
	V_RUNC="$(first_line runc --version)" \
	V_CRUN="$(first_line crun --version)" \
	V_PODMAN="$(first_line podman --version)" \
	V_NETAVARK="$(first_line /usr/lib/podman/netavark --version)" \
	V_CONMON="$(first_line conmon --version)" \
	V_HYPERFINE="$(first_line hyperfine --version)" \
	V_SKOPEO="$(first_line skopeo --version)" \
	V_TAR="$(first_line tar --version)" \
	V_GO="$(first_line go version)" \
	SELECTED="$([[ $name == "$date" ]] || echo "${groups[*]}")" \
	python3 - "$date" >"$runfile" <<'PY'
import json, os, platform, sys, time
e = os.environ
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
osname = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("PRETTY_NAME")), "?")
versions = {k: e[v] for k, v in [("pcr", "V_PCR"), ("runc", "V_RUNC"), ("crun", "V_CRUN"), ("podman", "V_PODMAN"),
    ("netavark", "V_NETAVARK"), ("conmon", "V_CONMON"), ("hyperfine", "V_HYPERFINE"), ("skopeo", "V_SKOPEO"),
    ("tar", "V_TAR"), ("go", "V_GO")] if e.get(v)}
print(json.dumps({
    "date": sys.argv[1], "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "command": "make bench" + (f" BENCH='{e['SELECTED']}'" if e["SELECTED"] else ""),
    "selected": e["SELECTED"],
    "machine": {"cores": os.cpu_count(), "cpu": cpu, "memory": f"{mem / 1048576:.1f} GiB",
                "kernel": platform.release(), "os": osname, "cgroup": e["CGROUP"]},
    "versions": versions,
}))
PY

failed=()
for g in "${groups[@]}"; do
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	log "=== $g (load $load)"
	t0=$(date +%s.%N)
	set +e
	BENCH_JSON=$tmp/$g.json timeout --signal=TERM --kill-after=60 "${BENCH_GROUP_TIMEOUT:-900}" "bench/$g.sh" |
		tee "$tmp/$g.md"
	rc=${PIPESTATUS[0]}
	set -e
	t1=$(date +%s.%N)
	((rc == 0)) || { failed+=("$g"); log "$g failed (exit status $rc)"; }
	printf '{"group": "%s", "load_before": "%s", "started": %s, "wall_s": %s, "exit_status": %d, "fragment": "%s", "markdown": "%s"}\n' \
		"$g" "$load" "${t0%.*}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" "$rc" "$tmp/$g.json" "$tmp/$g.md" >>"$runfile"
done

wall=$(($(date +%s) - started))
python3 - "$runfile" "$wall" <<'PY'
import json, sys
path, wall = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines()
head = json.loads(lines[0])
head["wall_s"] = wall
lines[0] = json.dumps(head)
open(path, "w").write("\n".join(lines) + "\n")
PY
python3 bench/report.py assemble "$base" "$runfile" | sed 's/^/bench: wrote /' >&2
log "all done in ${wall} s ($((wall / 60)) min $((wall % 60)) s)"
((${#failed[@]} == 0)) || die "failed: ${failed[*]}"
