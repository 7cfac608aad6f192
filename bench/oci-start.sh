#!/usr/bin/env bash
# oci-start: time `run /bin/true` from one busybox bundle with pcr, runc and crun in the same
# run, with bare unshare+chroot as the floor. Ratios are what count: this machine is shared
# and noisy, so absolute times move between runs.
#
# crun 1.8 refuses this host's hybrid cgroups, so its row runs inside a private mount
# namespace with the cgroup2 mount removed; pcr gets a second row behind the same wrapper so
# the comparison stays fair. Needs root, hyperfine, runc (crun optional), bin/pcr and
# `make fixtures`. Usage: bench/oci-start.sh [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-50}
pcr=$PWD/bin/pcr
rootfs=$PWD/rootfs-fixtures/build/busybox/rootfs
for t in hyperfine runc; do command -v $t >/dev/null || { echo "oci-start: $t is not installed" >&2; exit 1; }; done
[[ -x $pcr && -d $rootfs ]] || { echo "oci-start: run make build fixtures first" >&2; exit 1; }

work=$(mktemp -d /tmp/pcr-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bundle"
cp -a "$rootfs" "$work/bundle/rootfs"
(cd "$work/bundle" && "$pcr" oci spec)
# The same bundle for everyone: no terminal, /bin/true.
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' "$work/bundle/config.json"
# crun 1.8 knows spec versions up to 1.1; 1.0.2 means the same bundle to all three.
sed -i 's/"ociVersion": "[^"]*"/"ociVersion": "1.0.2"/' "$work/bundle/config.json"
grep -q '"/bin/true"' "$work/bundle/config.json"

cd "$work/bundle"
cmds=(-n floor "unshare --pid --fork --mount --net --uts --ipc chroot $work/bundle/rootfs /bin/true"
	-n pcr "$pcr oci --root $work/pcr run b1"
	-n runc "runc --root $work/runc run b2")
if command -v crun >/dev/null; then
	wrap="unshare -m --propagation private sh -c"
	cmds+=(-n "crun (no cgroup2 mount)" "$wrap 'umount /sys/fs/cgroup/unified && exec crun --root $work/crun run b3'"
		-n "pcr (no cgroup2 mount)" "$wrap 'umount /sys/fs/cgroup/unified && exec $pcr oci --root $work/pcr run b4'")
fi
echo "machine: $(nproc) cores, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $("$pcr" --version | head -1); $(runc --version | head -1); $(crun --version 2>/dev/null | head -1)"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/result.json" "${cmds[@]}"
