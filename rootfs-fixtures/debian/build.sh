#!/usr/bin/env bash
# Build the Debian base root filesystem: `debootstrap --variant=minbase bookworm`
# from debootstrap's default mirror (no mirror is named here), apt's download
# cache and package lists removed (an image's users run `apt-get update` first,
# as with Docker's debian images), host-specific files dropped.
#
# Output (under $OUT_DIR, default rootfs-fixtures/build):
#   debian/debian.tar   the root filesystem as a tarball, for `pcr import`
#   debian/.stamp       hash of this recipe; a matching stamp skips the rebuild
#
# The tarball is sorted and has numeric owners; files keep the mtimes the
# packages gave them. Needs root and debootstrap; takes about a minute.
set -euo pipefail

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out_dir=${OUT_DIR:-$(cd "$recipe_dir/.." && pwd)/build}
suite=bookworm

log() { printf 'fixture debian: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap chroots and creates root-owned files)"

recipe_hash=$( { cat "$recipe_dir"/*; echo "suite=$suite"; } | sha256sum | cut -d' ' -f1)
stamp="$out_dir/debian/.stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$recipe_hash" && -f "$out_dir/debian/debian.tar" ]]; then
	log "up to date ($out_dir/debian/debian.tar)"
	exit 0
fi
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"

mkdir -p "$out_dir/debian"
work=$(mktemp -d "$out_dir/debian/.work.XXXXXX")
# debootstrap bind-mounts /proc and /sys into the target while it works; if it
# dies halfway they must come off before the tree is removed.
cleanup() {
	local m
	for m in $(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
umask 022

root="$work/rootfs"
log "debootstrap --variant=minbase $suite (about a minute)"
if ! debootstrap --variant=minbase "$suite" "$root" >"$work/debootstrap.log" 2>&1; then
	tail -n 20 "$work/debootstrap.log" >&2
	[[ -f "$root/debootstrap/debootstrap.log" ]] && tail -n 20 "$root/debootstrap/debootstrap.log" >&2
	die "debootstrap failed (log above)"
fi

# Downloads and indexes are large and date the image; apt-get update brings them back.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
	"$root"/var/lib/apt/lists/* "$root"/var/log/bootstrap.log "$root"/debootstrap
mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
# debootstrap copies these from the host; a container gets its own at run time.
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"

# POSIX format keeps xattrs (file capabilities); atime/ctime are dropped so the
# same tree gives the same bytes.
tar --sort=name --numeric-owner --format=posix --xattrs --xattrs-include='*' \
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-C "$root" -cf "$work/debian.tar" .

rm -f "$stamp"
mv "$work/debian.tar" "$out_dir/debian/debian.tar"
echo "$recipe_hash" >"$stamp"
log "built $out_dir/debian/debian.tar ($(du -h "$out_dir/debian/debian.tar" | cut -f1), sha256 $(sha256sum "$out_dir/debian/debian.tar" | cut -c1-16))"
