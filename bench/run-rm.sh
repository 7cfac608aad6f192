#!/usr/bin/env bash
# run-rm: `pcr run --rm busybox true` end to end (resolve the image, mount the overlay, network,
# create, start, wait, unmount, delete), with bridge networking and with --net none, against
# `podman run --rm` with and without --network none on the same busybox image in the same run. Ratios are what count: this machine is shared and noisy.
# Needs root, hyperfine, podman (optional), bin/pcr and `make fixtures`.
# Usage: bench/run-rm.sh [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-30}
pcr=$PWD/bin/pcr
tarball=$PWD/rootfs-fixtures/build/busybox.tar
command -v hyperfine >/dev/null || { echo "run-rm: hyperfine is not installed" >&2; exit 1; }
[[ -x $pcr && -f $tarball ]] || { echo "run-rm: run make build fixtures first" >&2; exit 1; }

work=$(mktemp -d /tmp/pcr-bench.XXXXXX)
podman_image=pcr-bench-busybox-$$
cleanup() {
	"$pcr" --root "$work/root" --state "$work/state" rm -f $("$pcr" --root "$work/root" --state "$work/state" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
	if command -v podman >/dev/null; then podman rmi -f "$podman_image" >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
p() { "$pcr" --root "$work/root" --state "$work/state" "$@"; }
p import "$tarball" busybox >/dev/null

cmds=(-n "pcr run --rm (bridge, the default)" "$pcr --root $work/root --state $work/state run --rm busybox true"
	-n "pcr run --rm --net none" "$pcr --root $work/root --state $work/state run --rm --net none busybox true"
	-n "pcr oci run (no image, no overlay)" "sh -c 'cd $work/bundle && exec $pcr oci --root $work/oci run b1'")
mkdir -p "$work/bundle" && cp -a rootfs-fixtures/build/busybox/rootfs "$work/bundle/rootfs"
(cd "$work/bundle" && "$pcr" oci spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' config.json)
if command -v podman >/dev/null; then
	podman import -q "$tarball" "$podman_image" >/dev/null
	# This host lacks CAP_SYS_RESOURCE: podman's default nofile/nproc (1048576) cannot be granted.
	ulimits="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
	cmds+=(-n "podman run --rm --network none (runc)" "podman --runtime runc run --rm --network none $ulimits $podman_image true"
		-n "podman run --rm (runc, bridge)" "podman --runtime runc run --rm $ulimits $podman_image true")
	# podman's default runtime here, crun 1.8, refuses hybrid cgroups: runc it is.
fi
echo "machine: $(nproc) cores, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $("$pcr" --version | head -1); $(podman --version 2>/dev/null)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/result.json" "${cmds[@]}"
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]["mean"]
print("\n| command | mean ms | ± ms | vs pcr run --rm |")
print("|---|---|---|---|")
for x in r:
    print(f"| {x['command']} | {x['mean']*1000:.1f} | {x['stddev']*1000:.1f} | {x['mean']/base:.2f}x |")
PY
