#!/usr/bin/env bash
# Make the fixture images and load them into a pcr root.
#
#   rootfs-fixtures/images.sh PCR_ROOT
#
# 1. In the fixture store (rootfs-fixtures/build/store, kept between runs):
#    busybox    = `pcr import` of busybox.tar (rootfs-fixtures/busybox/build.sh)
#    debian     = `pcr import` of debian/debian.tar (rootfs-fixtures/debian/build.sh)
#    debian-php = `pcr build` of rootfs-fixtures/debian-php (FROM debian + a php-cli layer)
#    each saved as an image archive: build/{busybox-image,debian-image,debian-php}.tar with
#    its image ID next to it (<archive>.id). A stamp per image (the hash of its inputs)
#    skips the work when nothing changed; debian-php's first build takes a few minutes.
# 2. Into PCR_ROOT: `pcr load` of each archive, skipped when PCR_ROOT already has the
#    image under that name with the same ID.
#
# Needs root, bin/pcr (PCR=path overrides) and the rootfs tarballs built first.
set -euo pipefail

fixtures_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out_dir=${OUT_DIR:-$fixtures_dir/build}
pcr=${PCR:-$fixtures_dir/../bin/pcr}
target_root=${1:?usage: images.sh PCR_ROOT}

log() { printf 'fixture images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (pcr build runs containers and mounts overlays)"
[[ -x $pcr ]] || die "$pcr not found: run make build first"

store="$out_dir/store"
state="$out_dir/store-state"
fx() { "$pcr" --root "$store" --state "$state" "$@"; }

# image_id prints the ID of IMAGE in the pcr root given as $1, or nothing.
image_id() {
	"$pcr" --root "$1" image inspect "$2" 2>/dev/null |
		sed -n 's/^ *"Id": *"\(sha256:[0-9a-f]*\)".*/\1/p' | head -n1
}

# fresh NAME HASH: whether NAME's archive exists and was made from inputs hashing to HASH.
fresh() {
	[[ -f "$out_dir/$1.stamp" && "$(cat "$out_dir/$1.stamp")" == "$2" &&
		-f "$out_dir/$1.tar" && -f "$out_dir/$1.tar.id" ]]
}

# save NAME IMAGE HASH: write the archive, its ID and stamp, each replaced whole.
save() {
	local name=$1 image=$2 hash=$3 id
	id=$(image_id "$store" "$image")
	[[ -n $id ]] || die "$image is not in the fixture store after building it"
	fx save -o "$out_dir/.$name.tar.tmp" "$image"
	mv "$out_dir/.$name.tar.tmp" "$out_dir/$name.tar"
	echo "$id" >"$out_dir/$name.tar.id"
	echo "$hash" >"$out_dir/$name.stamp"
	log "saved $image ($id) to $out_dir/$name.tar"
}

mkdir -p "$out_dir"
trap 'rm -f "$out_dir"/.*.tar.tmp' EXIT

# busybox and debian: one-layer imports of the rootfs tarballs.
import_base() {
	local image=$1 tarball=$2 archive=$3 hash
	[[ -f $tarball ]] || die "$tarball missing: build the $image rootfs first"
	hash=$(sha256sum "$tarball" | cut -d' ' -f1)
	if fresh "$archive" "$hash" && [[ "$(image_id "$store" "$image")" == "$(cat "$out_dir/$archive.tar.id")" ]]; then
		log "$image up to date"
		return
	fi
	log "importing $tarball as $image"
	fx import "$tarball" "$image" >/dev/null
	save "$archive" "$image" "$hash"
}
import_base busybox "$out_dir/busybox.tar" busybox-image
import_base debian "$out_dir/debian/debian.tar" debian-image

# debian-php: its recipe plus the exact debian image it builds on.
php_hash=$( { cat "$fixtures_dir"/debian-php/*; cat "$out_dir/debian-image.tar.id"; } | sha256sum | cut -d' ' -f1)
if fresh debian-php "$php_hash"; then
	log "debian-php up to date"
else
	log "building debian-php (apt-get inside a pcr container: a few minutes the first time)"
	fx build -t debian-php "$fixtures_dir/debian-php"
	save debian-php debian-php "$php_hash"
fi

# Load into the target root unless it already has each image.
mkdir -p "$target_root"
for pair in busybox:busybox-image debian:debian-image debian-php:debian-php; do
	image=${pair%%:*} archive=${pair#*:}
	want=$(cat "$out_dir/$archive.tar.id")
	if [[ "$(image_id "$target_root" "$image")" == "$want" ]]; then
		log "$image already in $target_root"
		continue
	fi
	"$pcr" --root "$target_root" load -q -i "$out_dir/$archive.tar" >/dev/null
	[[ "$(image_id "$target_root" "$image")" == "$want" ]] || die "loading $archive.tar into $target_root did not give $image $want"
	log "loaded $image into $target_root"
done
