#!/bin/sh
# /init of the cgroup2-qemu initramfs (see run.sh). Runs as PID 1 in two stages.
#
# Stage 1: the initramfs root is the kernel's rootfs, the one mount with no parent, and pivot_root
# refuses to move it — also inside any new mount namespace copied from it, i.e. in every
# container. So copy the tree into a tmpfs and switch_root (move-mount + chroot, no pivot_root)
# onto it; under the tmpfs root, containers can pivot_root as on a real host.
#
# Stage 2: set the machine up like a systemd host with pure cgroup v2 (cgroup2 at /sys/fs/cgroup,
# controllers enabled in the root's subtree, / shared), run the test binaries, print the verdict
# line that run.sh looks for, power off. PID 1 is this shell: while it waits for a test binary, ash
# reaps every child, so orphaned container processes do not linger as zombies.
# /usr/local/sbin first, as on a Debian host: the host tools run.sh copies in (nft, mkfs.ext4…)
# win over a busybox applet of the same name.
export PATH=/usr/local/sbin:/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin

if [ "$1" != stage2 ]; then
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	exec </dev/console >/dev/console 2>&1
	mkdir -p /newroot
	mount -t tmpfs -o mode=0755 newroot /newroot || { echo "init: mount tmpfs newroot failed"; poweroff -f; }
	for entry in /* /.[!.]*; do
		case $entry in
		/newroot | /dev | /proc | /sys | '/.[!.]*') ;;
		*) cp -a "$entry" /newroot/ ;;
		esac
	done
	mkdir -p /newroot/dev /newroot/proc /newroot/sys
	mount --move /dev /newroot/dev
	exec switch_root /newroot /init stage2
	echo "init: switch_root failed"
	poweroff -f
fi

# Stage 1 moved its devtmpfs here; mount one only if that failed.
[ -c /dev/null ] || mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

result=FAIL
finish() {
	sync
	# run.sh matches this exact line, nonce included; the leading newline keeps it off any
	# half-written line of test or kernel output.
	printf '\nPCR-QEMU-RESULT: %s %s\n' "$result" "$PCR_QEMU_NONCE"
	poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 5
}

. /pcr/env || { PCR_QEMU_NONCE=unknown; finish; }

step() {
	"$@" || { echo "init: $* failed"; finish; }
}

step mount -t proc proc /proc
step mount -t sysfs sysfs /sys
step mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
step mkdir -p /dev/pts /dev/shm /run /tmp
step mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
step mount -t tmpfs -o mode=1777 shm /dev/shm
step mount -t tmpfs -o mode=0755 run /run
# systemd makes every mount shared; runtimes must cope with that, so test against it.
step mount --make-rshared /
ip link set lo up
hostname pcr-qemu

kver=$(uname -r)
while read -r ko; do
	insmod "/lib/modules/$kver/$ko" || { echo "init: insmod $ko failed"; finish; }
done <"/lib/modules/$kver/load-order"

# /tmp, where the tests keep their roots, is run.sh's ext4 scratch disk, as /tmp is on a Debian
# host's disk: tmpfs cannot be idmapped before Linux 6.3, and vservers' layers are. virtio_blk may
# create the device node a moment after its insmod returns.
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 50 ]; do
	usleep 100000
	i=$((i + 1))
done
step mount -t ext4 /dev/vda /tmp
step chmod 1777 /tmp

# A systemd host hands every controller down from the root cgroup; do the same.
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "init: enable controller $c failed"
done
echo "init: kernel $kver, cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
if [ -n "$PCR_QEMU_TEST_CGROUP" ]; then
	step mkdir -p "/sys/fs/cgroup/$PCR_QEMU_TEST_CGROUP"
	step sh -c "echo $$ >/sys/fs/cgroup/$PCR_QEMU_TEST_CGROUP/cgroup.procs"
	echo "init: tests run in cgroup $PCR_QEMU_TEST_CGROUP"
fi

export CI=true HOME=/root TMPDIR=/tmp PCR_BIN=/pcr/bin/pcr PCR_FIXTURES=/pcr/fixtures
failed=0
tab=$(printf '\t')
while IFS="$tab" read -r name pattern dir; do
	echo "=== init: running $name -test.run '$pattern' -test.skip '$PCR_QEMU_TEST_SKIP' in $dir"
	cd "$dir" || { failed=1; continue; }
	# stdin from /dev/null: a test that reads stdin must not block on the console.
	"/pcr/tests/$name" -test.v -test.count=1 -test.timeout="$PCR_QEMU_TEST_TIMEOUT" -test.run "$pattern" \
		-test.skip "$PCR_QEMU_TEST_SKIP" </dev/null
	rc=$?
	echo "=== init: $name exit status $rc"
	[ "$rc" -eq 0 ] || failed=1
done </pcr/tests.list
cd /

[ "$failed" -eq 0 ] && result=PASS
finish
