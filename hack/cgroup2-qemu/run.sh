#!/usr/bin/env bash
# Run pcr's cgroup and runtime tests on a real pure-cgroup-v2 kernel, under qemu.
#
# The development and CI machines boot cgroup v1 hybrid, which we must not change. This script
# boots Debian's own kernel in qemu (TCG; KVM when /dev/kvm is usable) with cgroup_no_v1=all, from
# an initramfs that holds everything the tests need, and reads the verdict from the serial console.
#
# Host prerequisites (Debian 12; .ci/run installs them):
#   apt-get install qemu-system-x86 kmod cpio gzip binutils e2fsprogs
# The kernel is NOT installed on the host: the package that linux-image-amd64 depends on
# (linux-image-6.*-amd64) is fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
# hack/cgroup2-qemu/build/kernel/, so the host's /boot and /lib/modules stay untouched.
#
# What the initramfs holds:
#   /                    the busybox fixture (rootfs-fixtures/build/busybox/rootfs)
#   /init                init.sh from this folder
#   /lib/modules/<kver>  the modules in CGROUP2_MODULES and their dependencies (via modules.dep)
#   /usr/local/sbin/*    the host's CGROUP2_HOST_TOOLS, with the shared libraries and the ELF
#                        interpreter they load at the paths the host has them (/lib/x86_64-linux-gnu,
#                        /lib64); init.sh puts /usr/local/sbin first on PATH, as on a Debian host
#   /pcr/bin/pcr         the static pcr binary (+ pcr-oci and pcr-init from beside it)
#   /pcr/tests/*.test    static test binaries, /pcr/src/<pkg>/ their working dirs (with testdata/)
#   /pcr/fixtures        a copy of rootfs-fixtures/build (the tests' PCR_FIXTURES)
#   /pcr/env             settings for init.sh
# and the VM has one disk, /dev/vda: a fresh sparse ext4 image (build/scratch.img, removed after the
# run) that init.sh mounts on /tmp, where the tests keep their roots, as /tmp is on a Debian host's
# disk. Not tmpfs: before Linux 6.3 tmpfs cannot be idmapped, and user-namespaced containers
# (vservers) see their image's layers through idmapped mounts.
#
# Usage: hack/cgroup2-qemu/run.sh            (make test-cgroup2 runs this from the repo root)
# Settings (environment):
#   PCR_BIN             static pcr binary                      (default bin/pcr)
#   PCR_FIXTURES        built fixtures folder                  (default rootfs-fixtures/build)
#   CGROUP2_PKGS        packages whose tests run in the VM     (default "./cgroup ./integration")
#   CGROUP2_RUN         -test.run for ./integration and any other package
#                                                              (default '^Test(Cgroup|OCI)')
#   CGROUP2_UNIT_RUN    -test.run for ./cgroup                 (default '.': all of its tests)
#   CGROUP2_TEST_BINS   prebuilt static test binaries to run instead of building CGROUP2_PKGS;
#                       each gets CGROUP2_RUN (hack/cgroup2-qemu/selftest.sh uses this)
#   CGROUP2_SKIP        -test.skip for every test binary: tests that need what the VM lacks
#                       (default '^TestOCIValidationAllowlist$': it builds the runtime-tools
#                       suite with the Go toolchain and module proxy; make test-oci-validation)
#   CGROUP2_TEST_TIMEOUT  -test.timeout for each test binary   (default 15m)
#   CGROUP2_TIMEOUT     seconds before the whole VM is killed  (default 1200)
#                       (the default run takes about 6 minutes under TCG on 2 host CPUs)
#   CGROUP2_HANG_AFTER  a kernel soft lockup this many seconds long means the VM hung: it is
#                       stopped there, and the test it was in is named (default 120)
#   CGROUP2_HANG_RETRIES  fresh boots after such a hang (default 2); a test that fails is never
#                       retried, only an emulator that stopped making progress
#   CGROUP2_ACCEL       tcg forces TCG; by default KVM when /dev/kvm is writable, and TCG again
#                       when qemu cannot run a guest on it (it aborts before the guest starts)
#   CGROUP2_MODULES     kernel modules to load in the VM       (default: overlay, veth, bridge, nf_tables + nft
#                                                              exprs, loop, sch_tbf); the scratch disk's
#                                                              (virtio_pci, virtio_blk, ext4) always load
#   CGROUP2_HOST_TOOLS  host commands to copy in, by name      (default: nft mkfs.ext4 resize2fs e2fsck)
#   CGROUP2_TEST_CGROUP cgroup (below the v2 root) to run the tests in; empty: the root cgroup
#   CGROUP2_KERNEL_PKG  kernel package to fetch (default: what linux-image-amd64 depends on)
#   CGROUP2_MEM, CGROUP2_SMP  VM size                          (default 2048, 2)
#   CGROUP2_SCRATCH_SIZE  size of the /tmp disk (sparse)       (default 4G)
# Exit status: 0 when the VM printed "PCR-QEMU-RESULT: PASS", 1 otherwise (FAIL, no marker, timeout).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build="$here/build"

pcr_bin=${PCR_BIN:-$repo/bin/pcr}
fixtures=${PCR_FIXTURES:-$repo/rootfs-fixtures/build}
pkgs=${CGROUP2_PKGS:-./cgroup ./integration}
run_pattern=${CGROUP2_RUN:-^Test(Cgroup|OCI)}
unit_run_pattern=${CGROUP2_UNIT_RUN:-.}
skip_pattern=${CGROUP2_SKIP-^TestOCIValidationAllowlist\$}
test_timeout=${CGROUP2_TEST_TIMEOUT:-15m}
vm_timeout=${CGROUP2_TIMEOUT:-1200}
hang_after=${CGROUP2_HANG_AFTER:-120}
hang_retries=${CGROUP2_HANG_RETRIES:-2}
# nf_tables and the nft expressions pcr's firewall uses (netns/firewall): bridge networking is the default.
# crc32c_generic first: libcrc32c (under nf_conntrack) needs it, a soft dependency modules.dep omits.
# loop: a vserver's or --storage-opt size container's disk image (ext4, which the scratch disk
# loads anyway). sch_tbf: a vserver's --net-rate.
modules=${CGROUP2_MODULES:-overlay veth bridge crc32c_generic nf_tables nft_chain_nat nft_nat nft_masq nft_ct nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 loop sch_tbf}
# The scratch disk's, whatever CGROUP2_MODULES says; ext4's metadata_csum needs crc32c_generic.
disk_modules="virtio_pci virtio_blk crc32c_generic ext4"
# What pcr and the tests run on the host that busybox lacks: nft (pcr's firewall checks), and
# e2fsprogs for disk images (mkfs.ext4 at create; e2fsck and resize2fs to grow one). mke2fs needs no
# /etc/mke2fs.conf: its compiled-in defaults make the same filesystem as Debian's file.
host_tools=${CGROUP2_HOST_TOOLS-nft mkfs.ext4 resize2fs e2fsck}
test_cgroup=${CGROUP2_TEST_CGROUP:-}
vm_mem=${CGROUP2_MEM:-2048}
vm_smp=${CGROUP2_SMP:-2}
scratch_size=${CGROUP2_SCRATCH_SIZE:-4G}
go=${GO:-go}

log() { printf '==> cgroup2-qemu: %s\n' "$*" >&2; }
die() { printf 'cgroup2-qemu: error: %s\n' "$*" >&2; exit 1; }

for tool in qemu-system-x86_64 depmod cpio gzip readelf dpkg-deb apt-get timeout ldd mkfs.ext4; do
	command -v "$tool" >/dev/null || die "$tool not found; install: apt-get install qemu-system-x86 kmod cpio gzip binutils e2fsprogs"
done

require_static() {
	if readelf -lW "$1" | grep -q 'Requesting program interpreter'; then
		die "$1 is dynamically linked; the initramfs has no libc (build it with -extldflags -static)"
	fi
}

# fetch_kernel sets kernel_image and modules_root (a folder holding lib/modules/<kver>).
fetch_kernel() {
	local pkg=${CGROUP2_KERNEL_PKG:-}
	if [[ -z $pkg ]]; then
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
		[[ -n $pkg ]] || die "cannot resolve linux-image-amd64's kernel package (apt-get update?)"
	fi
	local dir="$build/kernel/$pkg"
	if [[ ! -f $dir/.done ]]; then
		log "fetching kernel package $pkg"
		rm -rf "$dir"
		mkdir -p "$dir/dl"
		chmod 755 "$dir/dl"
		(cd "$dir/dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
			die "apt-get download $pkg failed"
		dpkg-deb -x "$dir"/dl/*.deb "$dir/x"
		mkdir -p "$dir/root/lib"
		mv "$dir"/x/boot/vmlinuz-* "$dir/vmlinuz"
		mv "$dir"/x/lib/modules "$dir/root/lib/"
		rm -rf "$dir/x" "$dir/dl"
		# The package builds modules.dep in its postinst; we never install it, so do it here.
		local kver
		kver=$(ls "$dir/root/lib/modules")
		depmod -b "$dir/root" "$kver"
		touch "$dir/.done"
	fi
	kernel_image="$dir/vmlinuz"
	modules_root="$dir/root"
}

# module_load_order prints the .ko paths (relative to lib/modules/<kver>) for the named modules,
# dependencies first, each once. Built-in modules print nothing.
module_load_order() {
	local kdir=$1
	shift
	awk -v want="$*" '
		function norm(s) { gsub(/-/, "_", s); return s }
		function base(p,   b) { b = p; sub(/.*\//, "", b); sub(/\.ko(\.(xz|zst|gz))?$/, "", b); return norm(b) }
		function emit(p,   n, i, d) {
			if (p in done) return
			done[p] = 1
			n = split(deps[p], d, " ")
			for (i = 1; i <= n; i++) emit(d[i])
			print p
		}
		FILENAME ~ /modules\.builtin$/ { builtin[base($0)] = 1; next }
		{ p = $1; sub(/:$/, "", p); $1 = ""; deps[p] = $0; byname[base(p)] = p }
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				m = norm(w[i])
				if (m in builtin) continue
				if (!(m in byname)) { print "unknown module " w[i] > "/dev/stderr"; exit 1 }
				emit(byname[m])
			}
		}' "$kdir/modules.builtin" "$kdir/modules.dep"
}

# stage_host_tools copies each named host command into <stage>/usr/local/sbin under the name it is
# called by (mke2fs picks its filesystem type from argv[0]), and the shared objects each loads at
# their host paths: the initramfs has no libc of its own.
stage_host_tools() {
	local stage=$1 tool path interp lib dir
	shift
	local -A libs=()
	mkdir -p "$stage/usr/local/sbin"
	for tool in "$@"; do
		path=$(type -P "$tool") || die "$tool not found on the host (CGROUP2_HOST_TOOLS); install it"
		rm -f "$stage/usr/local/sbin/$tool"
		install -m 0755 "$(readlink -f "$path")" "$stage/usr/local/sbin/$tool"
		interp=$(readelf -lW "$path" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
		[[ -n $interp ]] || continue
		libs[$interp]=1
		if ldd "$path" | grep -q 'not found'; then
			die "$tool: ldd finds no file for: $(ldd "$path" | grep 'not found' | tr -s ' \t\n' ' ')"
		fi
		while read -r lib; do
			libs[$lib]=1
		done < <(ldd "$path" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
	done
	for lib in "${!libs[@]}"; do
		dir=$stage$(dirname "$lib")
		mkdir -p "$dir"
		# A rootfs with an absolute /lib link would lead the copy out of the stage.
		[[ $(realpath "$dir") == "$(realpath "$stage")"/* ]] || die "$lib: $dir leads out of the initramfs stage"
		cp -L "$lib" "$dir/"
	done
}

build_test_binaries() {
	local dest=$1 pkg name
	: >"$dest/../tests.list"
	if [[ -n ${CGROUP2_TEST_BINS:-} ]]; then
		for bin in $CGROUP2_TEST_BINS; do
			name=$(basename "$bin")
			require_static "$bin"
			install -m 0755 "$bin" "$dest/$name"
			mkdir -p "$dest/../src/$name"
			printf '%s\t%s\t%s\n' "$name" "$run_pattern" "/pcr/src/$name" >>"$dest/../tests.list"
		done
		return
	fi
	for pkg in $pkgs; do
		name=$(basename "$pkg").test
		log "building $pkg test binary (static)"
		(cd "$repo" && CGO_ENABLED=1 "$go" test -c -tags osusergo,netgo,urfave_cli_no_docs \
			-ldflags '-s -w -extldflags -static' -o "$dest/$name" "$pkg") ||
			die "build test binary for $pkg failed"
		if [[ ! -f $dest/$name ]]; then
			log "warning: $pkg has no test files; nothing to run from it"
			continue
		fi
		require_static "$dest/$name"
		mkdir -p "$dest/../src/${pkg#./}"
		if [[ -d $repo/${pkg#./}/testdata ]]; then
			cp -a "$repo/${pkg#./}/testdata" "$dest/../src/${pkg#./}/"
		fi
		local pattern=$run_pattern
		[[ $pkg == ./cgroup ]] && pattern=$unit_run_pattern
		printf '%s\t%s\t%s\n' "$name" "$pattern" "/pcr/src/${pkg#./}" >>"$dest/../tests.list"
	done
}

start=$SECONDS
[[ -x $pcr_bin ]] || die "$pcr_bin missing; run make build"
require_static "$pcr_bin"
[[ -x $fixtures/busybox/rootfs/bin/busybox ]] || die "$fixtures/busybox/rootfs missing; run make fixtures"

fetch_kernel
kver=$(ls "$modules_root/lib/modules")

stage="$build/initramfs"
rm -rf "$stage"
mkdir -p "$build"
cp -a "$fixtures/busybox/rootfs" "$stage"
mkdir -p "$stage/pcr/bin" "$stage/pcr/tests" "$stage/pcr/fixtures" "$stage/lib/modules/$kver"
# The kernel opens /dev/console before /init runs; without it init.sh would start with no output.
[[ -e $stage/dev/console ]] || mknod -m 600 "$stage/dev/console" c 5 1
install -m 0755 "$here/init.sh" "$stage/init"
install -m 0755 "$pcr_bin" "$stage/pcr/bin/pcr"
# The slim runtime and the container's init, as make build puts them beside pcr, so that the v2
# tests exercise them and not only pcr's /proc/self/exe fallback.
for b in pcr-oci pcr-init; do
	if [[ -f $(dirname "$pcr_bin")/$b ]]; then
		install -m 0755 "$(dirname "$pcr_bin")/$b" "$stage/pcr/bin/$b"
	elif [[ $b == pcr-oci ]]; then
		ln -s pcr "$stage/pcr/bin/pcr-oci"
	fi
done
# Only the busybox fixture travels: the debian images and the fixture store are hundreds of MB.
tar -C "$fixtures" --exclude='./busybox/.work.*' -cf - ./busybox ./busybox.tar | tar -C "$stage/pcr/fixtures" -xf -

: >"$stage/lib/modules/$kver/load-order"
for ko in $(module_load_order "$modules_root/lib/modules/$kver" $disk_modules $modules); do
	mkdir -p "$stage/lib/modules/$kver/$(dirname "$ko")"
	case $ko in
	*.xz) xz -dc "$modules_root/lib/modules/$kver/$ko" >"$stage/lib/modules/$kver/${ko%.xz}" ;;
	*.zst) zstd -qdc "$modules_root/lib/modules/$kver/$ko" >"$stage/lib/modules/$kver/${ko%.zst}" ;;
	*) cp "$modules_root/lib/modules/$kver/$ko" "$stage/lib/modules/$kver/$ko" ;;
	esac
	ko=${ko%.xz}
	echo "${ko%.zst}" >>"$stage/lib/modules/$kver/load-order"
done

# shellcheck disable=SC2086 # a list of names
stage_host_tools "$stage" $host_tools

build_test_binaries "$stage/pcr/tests"
[[ -s $stage/pcr/tests.list ]] || die "no test binaries to run (packages: $pkgs)"

# A fresh nonce per run, so neither a stale log nor a test printing the marker can pass the run.
nonce=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >"$stage/pcr/env" <<EOF
PCR_QEMU_NONCE='$nonce'
PCR_QEMU_TEST_TIMEOUT='$test_timeout'
PCR_QEMU_TEST_SKIP='$skip_pattern'
PCR_QEMU_TEST_CGROUP='$test_cgroup'
EOF

initrd="$build/initramfs.cpio.gz"
log "packing initramfs"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1 >"$initrd")
log "initramfs $(du -h "$initrd" | cut -f1), kernel $kver, prepared in $((SECONDS - start))s"

# A fresh filesystem each boot (boot_vm makes it), so nothing a run left can change the next;
# cache=unsafe: it is scratch, thrown away when the VM ends.
scratch="$build/scratch.img"

# TCG: the "max" model without 5-level paging, which no test needs and which is TCG's least
# travelled path.
tcg=(-accel tcg -cpu max,la57=off)
accel=("${tcg[@]}")
if [[ -w /dev/kvm && ${CGROUP2_ACCEL:-} != tcg ]]; then
	accel=(-accel kvm -cpu host)
fi

console="$build/console.log"

# last_test prints the test the VM was in: the last "=== RUN" line of the console.
last_test() {
	tr -d '\r' <"$console" | grep -o '=== RUN .*' | tail -1 | sed 's/=== RUN *//'
}

# boot_vm boots the VM once, on a fresh scratch disk, with its console on stdout and in $console,
# and sets qemu_rc and hung. While it runs, a watch reads the console: a kernel soft lockup that has
# held a CPU for $hang_after seconds or more is a hung emulator (under TCG both CPUs have been seen
# spinning in the kernel for good, with no test making progress), so the VM is stopped there and
# hung is set to what the kernel printed, instead of waiting out CGROUP2_TIMEOUT for nothing.
boot_vm() {
	rm -f "$scratch"
	truncate -s "$scratch_size" "$scratch"
	mkfs.ext4 -q -F -m 0 -L pcr-scratch -E lazy_itable_init=0,lazy_journal_init=0 "$scratch" ||
		die "mkfs.ext4 $scratch failed"
	: >"$console"
	hung=
	timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 "${accel[@]}" \
		-m "$vm_mem" -smp "$vm_smp" -nographic -no-reboot -nic none \
		-kernel "$kernel_image" -initrd "$initrd" \
		-drive "file=$scratch,format=raw,if=virtio,cache=unsafe" \
		-append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet random.trust_cpu=on" \
		</dev/null >"$console" 2>&1 &
	local vm=$! stuck
	tail -n +1 -f --pid="$vm" "$console" &
	local echo_pid=$!
	while kill -0 "$vm" 2>/dev/null; do
		sleep 2
		stuck=$(tr -d '\r' <"$console" | sed -n 's/.*soft lockup - CPU#[0-9]* stuck for \([0-9]*\)s!.*/\1/p' | sort -n | tail -1)
		if [[ -n $stuck && $stuck -ge $hang_after ]]; then
			hung=$(tr -d '\r' <"$console" | grep -o 'soft lockup - CPU#.*' | tail -1)
			kill -TERM "$vm" 2>/dev/null # timeout passes it on to qemu
			break
		fi
	done
	set +e
	wait "$vm"
	qemu_rc=$?
	wait "$echo_pid"
	set -e
}

trap 'rm -f "$scratch"' EXIT
attempt=1
while :; do
	boot=$SECONDS
	log "booting ($vm_mem MiB, $vm_smp CPUs, ${accel[1]} ${accel[3]}; attempt $attempt of $((hang_retries + 1))); serial log: $console"
	boot_vm
	log "VM ran $((SECONDS - boot))s, total $((SECONDS - start))s (qemu exit $qemu_rc)"
	# A /dev/kvm that qemu cannot run a guest on (seen nested: "failed to set MSR 0x10a"):
	# qemu aborts before the guest runs. That says nothing of the tests; TCG runs them.
	if [[ ${accel[1]} == kvm && $qemu_rc -ne 0 ]] && tr -d '\r' <"$console" | grep -q '^qemu-system-x86_64: '; then
		log "KVM cannot run the VM here ($(tr -d '\r' <"$console" | grep -m1 '^qemu-system-x86_64: ')): booting with TCG"
		accel=("${tcg[@]}")
		continue
	fi
	[[ -n $hung ]] || break
	log "VM hung in the kernel ($hung) during: $(last_test)"
	if ((attempt > hang_retries)); then
		log "FAIL: the VM hung on every attempt"
		exit 1
	fi
	# An emulator hang is not a test verdict: a test that fails prints FAIL and is never retried.
	log "booting a fresh VM: an emulator hang says nothing of the tests"
	attempt=$((attempt + 1))
done

if tr -d '\r' <"$console" | grep -qx "PCR-QEMU-RESULT: PASS $nonce"; then
	log "PASS"
	exit 0
fi
if tr -d '\r' <"$console" | grep -qx "PCR-QEMU-RESULT: FAIL $nonce"; then
	log "FAIL: tests failed in the VM (see above)"
elif [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
	log "FAIL: VM killed after ${vm_timeout}s without a result"
else
	log "FAIL: VM stopped without a result marker (kernel panic or init crash?)"
fi
exit 1
