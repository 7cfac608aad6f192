#!/usr/bin/env bash
# image: the image side, pcr against the usual tools in the same run.
#   1. unpack the 160 MB php layer of the debian-php fixture with pcr's layer.Apply (through its
#      Go benchmark) vs GNU tar -x, as plain tar and as gzip, best of RUNS; both write to the same
#      filesystem (tmpfs by default, so the disk is out of the ratio: DEST=/var/tmp for disk);
#   2. `pcr push` and `pcr pull` of debian-php against a local distribution registry on
#      127.0.0.1 (bench/registry) vs `skopeo copy` of the same image, best of RUNS;
#   3. overlay mount+unmount: pcr's layer.Mount/Unmount vs bare mount(2)/umount(2) (bench/overlay).
# Needs root, go, skopeo, bin/pcr and `make fixtures`.
# Usage: bench/image.sh (IMAGE_RUNS / BENCH_RUNS, default 3; IMAGE_OVERLAY_N, default 200)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need go skopeo tar gzip unshare
nruns=$(runs IMAGE_RUNS 3)
overlay_n=${IMAGE_OVERLAY_N:-200}
archive=$fixtures/debian-php.tar
[[ -f $archive ]] || die "the debian-php fixture is missing: run make fixtures"

workdir work image
dest_root=${DEST:-/dev/shm}
out=$(mktemp -d "$dest_root/pcr-bench-image-out.XXXXXX")
on_exit "rm -rf '$out'"
param runs "$nruns"
param overlay_cycles "$overlay_n"

# The fixture as an OCI layout; its last layer is the php layer.
mkdir "$work/layout"
tar -xf "$archive" -C "$work/layout"
layer_blob=$work/layout/$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["Layers"][-1])' "$work/layout/manifest.json")
cp "$layer_blob" "$work/layer.tar.gz"
gzip -dc "$work/layer.tar.gz" >"$work/layer.tar"
size=$(stat -c %s "$work/layer.tar")
gz_size=$(stat -c %s "$work/layer.tar.gz")
files=$(tar -tf "$work/layer.tar" | wc -l)
image_mb=$(du -sm --apparent-size "$work/layout/blobs" | cut -f1)
dest_fs=$(stat -fc %T "$out")

about <<EOF
*Unpack*: the php layer of the debian-php fixture ($files entries, $((size / 1000000)) MB as tar,
$((gz_size / 1000000)) MB gzipped) written into an empty directory on $dest_fs, by GNU \`tar -x\` and by
pcr's \`layer.Apply\` (run through its Go benchmark, \`BenchmarkApply\` with \`PCR_BENCH_LAYER\`; Apply
also hashes the diff ID and checks every path, tar does neither), each the best of $nruns; MB/s is of
the uncompressed tar. *Push / pull*: the debian-php image (2 layers, $image_mb MB of blobs) against a
distribution v3 registry on 127.0.0.1 (bench/registry, filesystem storage in /tmp): \`pcr push\` from a
pcr store vs \`skopeo copy oci:LAYOUT docker://…\` from the same blobs, and \`pcr pull\` into an empty
store vs \`skopeo copy docker://… oci:DIR\`; each run to a new repository (nothing already there),
best of $nruns; skopeo runs with an empty blob-location cache of its own (a private tmpfs), so that
it uploads every blob rather than mounting it from a repository it saw. \`pcr pull\` also unpacks the layers and checks each diff ID; skopeo only downloads
and checks digests. *Overlay*: one overlay mount (the lowers, an upper and a work dir) and its
unmount in a private mount namespace, $overlay_n cycles per case after 5 untimed ones, the two
implementations taking turns ten cycles at a time, each figure the median of its ten-cycle means: pcr's \`layer.Mount\`/\`layer.Unmount\` (the new mount API,
\`fsopen\`+\`lowerdir+\`, on kernels that have it) vs a bare \`mount(2)\` with the classic option string.
EOF

best() { sort -g | head -1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b - a) / 1000}'; }
mbs() { awk -v s="$size" -v t="$1" 'BEGIN {printf "%.0f", s / t / 1e6}'; }

# 1. unpack
log "building layer.test"
(cd "$repo" && go test -tags osusergo,netgo -c -o "$work/layer.test" ./image/layer/) >&2
time_tar() { # FILE FLAG
	local i
	for ((i = 0; i < nruns; i++)); do
		rm -rf "$out/x"
		mkdir "$out/x"
		sync
		/usr/bin/time -f %e -o "$work/t" tar "$2" "$1" -C "$out/x" || die "tar $2 $1 failed"
		cat "$work/t"
	done | best
}
time_apply() { # FILE
	local i
	for ((i = 0; i < nruns; i++)); do
		sync
		TMPDIR=$out PCR_BENCH_LAYER=$1 "$work/layer.test" -test.run '^$' -test.bench BenchmarkApply -test.benchtime 1x |
			awk '/^BenchmarkApply/ { printf "%.3f\n", $3 / 1e9 }'
	done | best
}
echo "### Unpack the $((size / 1000000)) MB php layer ($files entries) on $dest_fs, best of $nruns"
echo
echo "| layer | tar -x s | tar MB/s | pcr layer.Apply s | Apply MB/s | tar time / Apply time |"
echo "|---|---|---|---|---|---|"
rm -rf "$out/x"
for kind in tar gzip; do
	log "unpack: $kind"
	if [[ $kind == tar ]]; then f=$work/layer.tar flag=-xf; else f=$work/layer.tar.gz flag=-xzf; fi
	t_tar=$(time_tar "$f" "$flag")
	t_go=$(time_apply "$f")
	[[ -n $t_go ]] || die "BenchmarkApply printed no result"
	ratio=$(awk -v a="$t_tar" -v b="$t_go" 'BEGIN {printf "%.2f", a / b}')
	echo "| $kind | $t_tar | $(mbs "$t_tar") | $t_go | $(mbs "$t_go") | $ratio |"
	fig "unpack $kind: tar -x" "$t_tar" s
	fig "unpack $kind: pcr layer.Apply" "$t_go" s
	fig "unpack $kind: tar time / Apply time" "$ratio" ""
done
rm -rf "$out/x"
echo

# 2. push and pull
log "building and starting the registry"
(cd "$repo" && go build -o "$work/registry" ./bench/registry) >&2
mkdir "$work/registry-data"
setsid "$work/registry" -dir "$work/registry-data" -addr-file "$work/addr" 2>"$work/registry.log" &
registry_pid=$!
on_exit "kill $registry_pid 2>/dev/null; wait $registry_pid 2>/dev/null"
for ((i = 0; i < 100; i++)); do [[ -s $work/addr ]] && break; sleep 0.1; done
[[ -s $work/addr ]] || die "the registry did not start: $(cat "$work/registry.log")"
reg=$(cat "$work/addr")
p() { "$pcr" --root "$work/root" --state "$work/state" "$@"; }
p load -q -i "$archive" >/dev/null
timed() { # CMD...: seconds it took; fails when CMD does
	local t0 t1
	t0=$(now_ms)
	"$@" </dev/null >/dev/null 2>"$work/err" || die "$* failed: $(tail -3 "$work/err")"
	t1=$(now_ms)
	secs "$t0" "$t1"
}
# skopeo keeps a host-wide cache of where it has seen each blob (/var/lib/containers/cache) and
# would mount a blob from a repository it knows instead of uploading it. Each skopeo runs with a
# private, empty tmpfs there: every push uploads, and the host's cache is left as it was.
skopeo_=(unshare -m --propagation private sh -c 'for d in /var/lib/containers/cache /var/lib/containers /var/lib; do
	[ -d "$d" ] && break; done; mount -t tmpfs -o mode=700 tmpfs "$d" && exec skopeo --insecure-policy "$@"' sh)
declare -A best_of
for what in "pcr push" "skopeo copy (push)" "pcr pull" "skopeo copy (pull)"; do best_of[$what]=; done
for ((i = 1; i <= nruns; i++)); do
	log "push and pull, run $i"
	t=$(timed "$pcr" --root "$work/root" --state "$work/state" push -q debian-php "$reg/bench/pcr$i:v1")
	best_of["pcr push"]+="$t "
	t=$(timed "${skopeo_[@]}" copy -q --dest-tls-verify=false "oci:$work/layout" "docker://$reg/bench/skopeo$i:v1")
	best_of["skopeo copy (push)"]+="$t "
	t=$(timed "$pcr" --root "$work/pull$i" --state "$work/pull$i-state" pull -q "$reg/bench/pcr$i:v1")
	best_of["pcr pull"]+="$t "
	rm -rf "$work/pull$i" "$work/pull$i-state"
	t=$(timed "${skopeo_[@]}" copy -q --src-tls-verify=false "docker://$reg/bench/pcr$i:v1" "oci:$work/skopeo-pull$i:v1")
	best_of["skopeo copy (pull)"]+="$t "
	rm -rf "$work/skopeo-pull$i"
done
echo "### Push and pull debian-php ($image_mb MB of blobs) over loopback, best of $nruns"
echo
echo "| what | s | MB/s | relative to pcr |"
echo "|---|---|---|---|"
for dir in push pull; do
	pt=$(tr ' ' '\n' <<<"${best_of["pcr $dir"]}" | grep . | best)
	st=$(tr ' ' '\n' <<<"${best_of["skopeo copy ($dir)"]}" | grep . | best)
	rate() { awk -v m="$image_mb" -v t="$1" 'BEGIN {printf "%.0f", m / t}'; }
	echo "| pcr $dir | $pt | $(rate "$pt") | — |"
	echo "| skopeo copy ($dir) | $st | $(rate "$st") | $(awk -v a="$st" -v b="$pt" 'BEGIN {printf "%.2f×", a / b}') |"
	fig "pcr $dir" "$pt" s
	fig "skopeo copy ($dir)" "$st" s
done
echo

# 3. overlay mount+unmount
log "overlay mount+unmount"
(cd "$repo" && go build -o "$work/overlay" ./bench/overlay) >&2
mkdir "$work/ov"
unshare -m --propagation private "$work/overlay" -dir "$work/ov" -n "$overlay_n" -lowers 1,2,8,32 >"$work/ov.out"
echo "### Overlay mount+unmount, $overlay_n cycles per case"
echo
echo "| lowers | pcr layer.Mount+Unmount µs | mount(2)+umount(2) µs | pcr / bare |"
echo "|---|---|---|---|"
for k in $(cut -f1 "$work/ov.out" | uniq); do
	a=$(awk -F'\t' -v k="$k" '$1 == k && $2 ~ /^pcr/ {print $3}' "$work/ov.out")
	b=$(awk -F'\t' -v k="$k" '$1 == k && $2 !~ /^pcr/ {print $3}' "$work/ov.out")
	echo "| $k | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}') |"
	fig "overlay mount+unmount, $k lowers: pcr layer.Mount" "$a" µs
	fig "overlay mount+unmount, $k lowers: mount(2)" "$b" µs
done
