#!/usr/bin/env bash
# engine-start: `pcr run --rm busybox true` end to end (resolve the image, mount the overlay,
# network, create, start, wait, unmount, delete) against `podman run --rm` on the same busybox
# image in the same hyperfine run: with no network (podman with runc and with crun), then with
# bridge networking on both sides. podman gets its own storage in the work dir, so the host's
# podman store is neither read nor changed.
#
# crun 1.8 refuses hybrid cgroups: on hybrid podman's crun rows run behind the same private
# mount namespace wrapper as in oci-start, and pcr gets rows behind it too.
# Needs root, hyperfine, podman, runc, crun, bin/pcr and `make fixtures`.
# Usage: bench/engine-start.sh [RUNS] (or ENGINE_RUNS / BENCH_RUNS; default 20)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need hyperfine podman runc crun unshare
nruns=${1:-$(runs ENGINE_RUNS 20)}
warmup=3
tarball=$fixtures/busybox.tar
[[ -f $tarball ]] || die "the busybox fixture is missing: run make fixtures"

workdir work engine-start
keep_pcr_default_network
podman_private "$work"
p() { "$pcr" --root "$work/root" --state "$work/state" "$@"; }
on_exit 'p rm -f $(p ps -aq 2>/dev/null) >/dev/null 2>&1'
p import "$tarball" busybox >/dev/null
$podman_cmd import -q "$tarball" pcr-bench-busybox >/dev/null
# This host lacks CAP_SYS_RESOURCE: podman's default nofile/nproc (1048576) cannot be granted.
ulimits="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
wrap=$(crun_wrap)
pcr_run="$pcr --root $work/root --state $work/state run --rm"
pod_run="$podman_cmd run --rm $ulimits"
cmds=(-n "pcr run --rm --net none" "$pcr_run --net none busybox true"
	-n "podman run --rm --network none (runc)" "$podman_cmd --runtime runc run --rm --network none $ulimits pcr-bench-busybox true")
bases=()
if [[ -n $wrap ]]; then
	cmds+=(-n "pcr run --rm --net none (wrapped)" "$wrap $pcr_run --net none busybox true"
		-n "podman run --rm --network none (crun, wrapped)" "$wrap $podman_cmd --runtime crun run --rm --network none $ulimits pcr-bench-busybox true")
	bases+=("podman run --rm --network none (crun, wrapped)=pcr run --rm --net none (wrapped)")
else
	cmds+=(-n "podman run --rm --network none (crun)" "$podman_cmd --runtime crun run --rm --network none $ulimits pcr-bench-busybox true")
fi
cmds+=(-n "pcr run --rm (bridge)" "$pcr_run busybox true"
	-n "podman run --rm (runc, bridge)" "$podman_cmd --runtime runc run --rm $ulimits pcr-bench-busybox true")
bases+=("podman run --rm (runc, bridge)=pcr run --rm (bridge)")
param runs "$nruns"
param warmup "$warmup"

about <<EOF2
\`pcr run --rm busybox true\` against \`podman run --rm … busybox true\` (podman $(podman --version | awk '{print $3}'),
its storage private to the run, the same busybox fixture imported on both sides), hyperfine \`-N\`,
$warmup warm-up runs then $nruns runs per row in ${BENCH_ROUNDS:-5} rounds of every row, pooled. Each row is the whole engine path: look up the image,
mount the overlay, make the network, create and start through the OCI runtime, wait, tear all
down. First without a network (\`--net none\` / \`--network none\`), podman with runc and with
crun, then both with bridge networking (pcr's \`pcr0\` with nftables NAT; podman's netavark
\`podman0\` with iptables) — the bridge rows' ratio is to pcr's bridge row. podman is given
\`--ulimit nofile=1024:1024 --ulimit nproc=1024:1024\` because this host cannot grant its default
of 1048576. $([[ -n $wrap ]] && echo "crun refuses hybrid cgroups: podman's crun row and a pcr row run behind the
private-mount-namespace wrapper of oci-start, and crun's ratio is to that pcr row.")
EOF2

log "hyperfine: $(( ${#cmds[@]} / 3 )) rows x $nruns runs"
hyperfine_rounds "$work/result.json" "$nruns" "$warmup" "${cmds[@]}"
echo "machine load after: $(load)"
echo
hyperfine_table "engine-start" "$work/result.json" "pcr run --rm --net none" "${bases[@]}"
