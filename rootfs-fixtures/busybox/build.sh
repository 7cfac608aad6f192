#!/usr/bin/env bash
# Build the busybox test root filesystem without any image registry.
#
# Source: Debian's busybox-static package, fetched with `apt-get download` so
# the fixture does not depend on what the host has installed. If apt cannot
# fetch it (offline), the .deb from apt's cache or the host's installed
# busybox-static binary is used instead, with a warning.
#
# Output (under $OUT_DIR, default rootfs-fixtures/build):
#   busybox/rootfs   the root filesystem (FHS dirs, busybox + applet links,
#                    /etc/passwd, /etc/group; no /etc/hostname)
#   busybox.tar      the same tree as a tarball, for `pcr import`
#   busybox/.stamp   hash of this recipe; a matching stamp skips the rebuild
#
# The result is deterministic: fixed mtimes, sorted tar, numeric owners.
# Must run as root so that /home/pcr can be owned by uid 1000.
set -euo pipefail

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out_dir=${OUT_DIR:-$(cd "$recipe_dir/.." && pwd)/build}
# Fixed timestamp for every file, so two builds give byte-identical tarballs.
epoch=${SOURCE_DATE_EPOCH:-1704067200}

log() { printf 'fixture busybox: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (files in the rootfs are owned by uid 0 and 1000)"

# The stamp covers the recipe and the epoch: edit either and the fixture is rebuilt.
recipe_hash=$( { cat "$recipe_dir"/*; echo "epoch=$epoch"; } | sha256sum | cut -d' ' -f1)
stamp="$out_dir/busybox/.stamp"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$recipe_hash" && -x "$out_dir/busybox/rootfs/bin/busybox" && -f "$out_dir/busybox.tar" ]]; then
	log "up to date ($out_dir/busybox)"
	exit 0
fi

mkdir -p "$out_dir/busybox"
work=$(mktemp -d "$out_dir/busybox/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 022

fetch_busybox() {
	local dest=$1 deb cache="$out_dir/cache"
	mkdir -p "$cache"
	# apt drops privileges to _apt for downloads; run it in a dir _apt can write.
	chmod 755 "$work"
	mkdir -p "$work/deb"
	if (cd "$work/deb" && apt-get download -q -o APT::Sandbox::User=root busybox-static >&2); then
		deb=$(ls "$work"/deb/busybox-static_*.deb)
		cp "$deb" "$cache/"
	else
		deb=$(ls -t "$cache"/busybox-static_*.deb /var/cache/apt/archives/busybox-static_*.deb 2>/dev/null | head -n1 || true)
	fi
	if [[ -n "${deb:-}" ]]; then
		log "using $(basename "$deb")"
		dpkg-deb -x "$deb" "$work/pkg"
		install -m 0755 "$work/pkg/bin/busybox" "$dest"
		return
	fi
	if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
		log "warning: apt-get download failed; reusing the host's installed busybox-static"
		install -m 0755 "$(dpkg -L busybox-static | grep -m1 '/bin/busybox$')" "$dest"
		return
	fi
	die "cannot get busybox-static: apt-get download failed and it is neither cached nor installed"
}

root="$work/rootfs"
mkdir -p "$root"
for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp root home home/pcr var/run; do
	mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

fetch_busybox "$root/bin/busybox"
"$root/bin/busybox" --list-full >"$work/applets" || die "run $root/bin/busybox --list-full failed"

# Relative links keep the tree usable both inside a container and from the host.
while IFS= read -r applet; do
	case $applet in
	*/*) ;;
	*) continue ;; # top-level names such as linuxrc are not applets we want
	esac
	[[ $applet == bin/busybox ]] && continue
	target=busybox
	if [[ ${applet%/*} != bin ]]; then
		# One ".." per directory level of the applet: usr/bin/awk -> ../../bin/busybox.
		rest=${applet%/*} target=bin/busybox
		while [[ -n $rest ]]; do
			target=../$target
			[[ $rest == */* ]] && rest=${rest#*/} || rest=
		done
	fi
	ln -sfn "$target" "$root/$applet"
done <"$work/applets"
[[ -L "$root/bin/sh" ]] || die "busybox --list-full did not list bin/sh"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
pcr:x:1000:1000:pcr test user:/home/pcr:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
pcr:x:1000:
extra:x:1001:pcr
nogroup:x:65534:
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chown 1000:1000 "$root/home/pcr"

find "$root" -exec touch -h -d "@$epoch" {} +
tar --sort=name --numeric-owner --format=gnu --mtime="@$epoch" -C "$root" -cf "$work/busybox.tar" .

# Replace the old output only once the new one is complete.
rm -rf "$out_dir/busybox/rootfs" "$stamp"
mv "$root" "$out_dir/busybox/rootfs"
mv "$work/busybox.tar" "$out_dir/busybox.tar"
echo "$recipe_hash" >"$stamp"
log "built $out_dir/busybox/rootfs and $out_dir/busybox.tar ($(sha256sum "$out_dir/busybox.tar" | cut -c1-16))"
