#!/usr/bin/env bash
# layer-unpack: unpack throughput of image/layer.Apply against GNU tar -x on the same layer, in
# the same run, as plain tar and as gzip. The layer is the debian fixture (a debootstrap minbase,
# from `make fixtures`) when it exists, else the busybox fixture plus /usr/share. Both sides write to the
# same filesystem (tmpfs by default to take the disk out of the ratio; DEST=/var/tmp for disk).
# MB/s is of the uncompressed tar. tar does not hash; Apply also computes the diff ID.
# Needs root and go. Usage: bench/layer-unpack.sh [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=$PATH:/usr/local/go/bin
runs=${1:-5}
dest_root=${DEST:-/dev/shm}
[[ $(id -u) == 0 ]] || { echo "layer-unpack: needs root (owners, devices)" >&2; exit 1; }

work=$(mktemp -d /tmp/pcr-layer-bench.XXXXXX)
out=$(mktemp -d "$dest_root/pcr-layer-out.XXXXXX")
trap 'rm -rf "$work" "$out"' EXIT

if [[ -f rootfs-fixtures/build/debian/debian.tar ]]; then
	what="debian fixture (debootstrap minbase)"
	cp rootfs-fixtures/build/debian/debian.tar "$work/layer.tar"
else
	fixture=rootfs-fixtures/build/busybox/rootfs
	[[ -d $fixture ]] || { echo "layer-unpack: run make fixtures first" >&2; exit 1; }
	what="busybox fixture + /usr/share"
	tar -cf "$work/layer.tar" -C "$fixture" . -C / usr/share
fi
gzip -c "$work/layer.tar" >"$work/layer.tar.gz"
go test -tags osusergo,netgo -c -o "$work/layer.test" ./image/layer/
size=$(stat -c %s "$work/layer.tar")
files=$(tar -tf "$work/layer.tar" | wc -l)

# best of N, in seconds; the machine is shared, so the minimum is the least noisy figure
best() { sort -g | head -1; }
time_tar() { # FILE FLAGS
	for _ in $(seq "$runs"); do
		rm -rf "$out/x"; mkdir "$out/x"; sync
		/usr/bin/time -f %e tar "$2" "$1" -C "$out/x" 2>&1 >/dev/null | tail -1
	done | best
}
time_apply() { # FILE
	for _ in $(seq "$runs"); do
		sync
		TMPDIR=$out PCR_BENCH_LAYER=$1 "$work/layer.test" -test.run '^$' -test.bench BenchmarkApply -test.benchtime 1x |
			awk '/^BenchmarkApply/ { printf "%.3f\n", $3 / 1e9 }'
	done | best
}
mbs() { awk -v s="$size" -v t="$1" 'BEGIN { printf "%.0f MB/s", s / t / 1e6 }'; }

echo "machine: $(nproc) cores, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); dest $(df -T "$out" | awk 'NR==2 {print $2}')"
echo "layer: $what, $files entries, $((size / 1000000)) MB tar, $(($(stat -c %s "$work/layer.tar.gz") / 1000000)) MB gzip; best of $runs"
for kind in tar gzip; do
	if [[ $kind == tar ]]; then f=$work/layer.tar flag=-xf; else f=$work/layer.tar.gz flag=-xzf; fi
	t_tar=$(time_tar "$f" "$flag")
	t_go=$(time_apply "$f")
	printf '%-5s tar %s: %6.3f s (%s)   Apply: %6.3f s (%s)   tar/Apply time ratio %.2f\n' \
		"$kind" "$flag" "$t_tar" "$(mbs "$t_tar")" "$t_go" "$(mbs "$t_go")" "$(awk -v a="$t_tar" -v b="$t_go" 'BEGIN {print a / b}')"
done
