#!/usr/bin/env bash
# oci-start: `run /bin/true` from one busybox bundle with pcr's runtime binary (bin/pcr-oci, what
# podman runs), runc and crun in the same hyperfine run, with bare unshare+chroot as the floor.
#
# crun 1.8 refuses this host's hybrid cgroups, so on hybrid its row runs inside a private mount
# namespace with the cgroup2 mount removed; pcr gets a second row behind the same wrapper so the
# comparison stays fair. Needs root, hyperfine, runc, crun, bin/pcr-oci and `make fixtures`.
# Usage: bench/oci-start.sh [RUNS] (or OCI_RUNS / BENCH_RUNS; default 50)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need hyperfine runc crun unshare "$pcr_oci"
nruns=${1:-$(runs OCI_RUNS 50)}
warmup=5

workdir work oci-start
busybox_bundle "$work/bundle" /bin/true
rootfs=$work/bundle/rootfs
cd "$work/bundle"
wrap=$(crun_wrap)
cmds=(-n "floor: unshare+chroot" "unshare --pid --fork --mount --net --uts --ipc chroot $rootfs /bin/true"
	-n "pcr-oci run" "$pcr_oci --root $work/pcr run b1"
	-n "runc run" "runc --root $work/runc run b2")
if [[ -n $wrap ]]; then
	cmds+=(-n "crun run (wrapped)" "$wrap crun --root $work/crun run b3"
		-n "pcr-oci run (wrapped)" "$wrap $pcr_oci --root $work/pcr run b4")
	crun_rows=("crun run (wrapped)=pcr-oci run (wrapped)")
else
	cmds+=(-n "crun run" "crun --root $work/crun run b3")
	crun_rows=()
fi
param runs "$nruns"
param warmup "$warmup"

about <<EOF
\`run /bin/true\` from one busybox bundle (ociVersion 1.0.2, no terminal), timed by hyperfine \`-N\`
(no shell), $warmup warm-up runs then $nruns runs per row, taken in ${BENCH_ROUNDS:-5} rounds that each run
every row in turn (so a burst of load from the machine's neighbours is shared by all rows, not
taken by one); the rounds' runs are pooled. Each row is a full create+start+wait+delete of the runtime; *floor* is bare
\`unshare --pid --fork --mount --net --uts --ipc chroot ROOTFS /bin/true\`, what namespaces and an
exec cost without any runtime. $([[ -n $wrap ]] && echo "crun 1.8 refuses hybrid cgroups: its row runs in
\`unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec crun …'\` and
*pcr-oci run (wrapped)* runs behind the same wrapper; crun's ratio is to that row.")
Ratios are of the means.
EOF

log "hyperfine: $(( ${#cmds[@]} / 3 )) rows x $nruns runs"
hyperfine_rounds "$work/result.json" "$nruns" "$warmup" "${cmds[@]}"
echo "machine load after: $(load)"
echo
hyperfine_table "oci-start" "$work/result.json" "pcr-oci run" "${crun_rows[@]}"
