package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"pcr/image/layer"
)

// A container with StorageSize keeps its upper and work dirs on its own
// ext4 filesystem, in a sparse image file in its directory, attached to a
// loop device and mounted on disk/ while the container runs: a write past
// the size fails with ENOSPC in that container only. The loop device is
// made auto-clearing, so that it goes away with the last unmount (or with
// the last close, when pcr dies before mounting it).

const (
	diskImage = "disk.img"
	diskDir   = "disk"
	// MinStorageSize is the smallest --storage-opt size: ext4's journal
	// and metadata leave little of anything smaller.
	MinStorageSize = 16 << 20
)

// ParseStorageOpts reads Docker's --storage-opt values; pcr knows size=SIZE.
func ParseStorageOpts(vals []string) (int64, error) {
	var size int64
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(k) != "size" {
			return 0, fmt.Errorf("invalid --storage-opt %q: pcr knows size=SIZE (such as size=10g)", v)
		}
		n, err := ParseSize(val)
		if err != nil {
			return 0, fmt.Errorf("invalid --storage-opt %q: %w", v, err)
		}
		if n <= 0 {
			return 0, fmt.Errorf("invalid --storage-opt %q: the size must be greater than 0", v)
		}
		size = n
	}
	return size, nil
}

func validateStorageSize(size int64) error {
	if size < 0 || (size > 0 && size < MinStorageSize) {
		return fmt.Errorf("invalid --storage-opt size=%d: the minimum is 16MB", size)
	}
	return nil
}

// upperDir is the container's overlay upper dir: on its disk image when
// it has one (mounted by mountStorage or holdDisk).
func (e *Engine) upperDir(rec *Record) string {
	if rec.Options.StorageSize > 0 {
		return filepath.Join(e.dir(rec.ID), diskDir, "upper")
	}
	return filepath.Join(e.dir(rec.ID), "upper")
}

func (e *Engine) workDir(rec *Record) string {
	if rec.Options.StorageSize > 0 {
		return filepath.Join(e.dir(rec.ID), diskDir, "work")
	}
	return filepath.Join(e.dir(rec.ID), "work")
}

// createDisk makes the sparse image and its filesystem, whose root
// belongs to the container's root.
func createDisk(dir string, o *Options) error {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return fmt.Errorf("disk image: mkfs.ext4 (e2fsprogs) is needed for --storage-opt size: %w", err)
	}
	img := filepath.Join(dir, diskImage)
	f, err := os.OpenFile(img, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	err = f.Truncate(o.StorageSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	// No reserved blocks: they are kept for host uid 0, never the
	// container's root. Inode tables and journal are zeroed now (cheap on
	// a file: mkfs punches holes) rather than by a kernel thread writing
	// behind the container's back after each first mount. The root stays
	// host root's: the container's root owns only upper/, work/ and its
	// /etc files there, and never sees the rest.
	cmd := exec.Command(mkfs, "-q", "-F", "-m", "0", "-L", "pcr-"+ShortID(filepath.Base(dir)),
		"-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard,root_owner=0:0", img)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("disk image: mkfs.ext4: %w: %s", err, lastLine(out))
	}
	return os.Mkdir(filepath.Join(dir, diskDir), 0o700)
}

// lastLine is the last non-empty line of a tool's output: the one that
// says what went wrong, kept on the error's one line.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// mountDisk attaches the image to a free loop device and mounts it on
// disk/, then makes upper/ and work/ there (owned by the container's
// root) on its first mount, and keeps the container's /etc files there
// (placeEtcFiles). A disk already mounted is kept. An image that still
// backs a loop device (its filesystem alive in a lazily unmounted or
// foreign mount) is refused: a second loop device would make a second
// ext4 instance on the same file, which corrupts it.
func (e *Engine) mountDisk(rec *Record) error {
	dir := e.dir(rec.ID)
	target := filepath.Join(dir, diskDir)
	if layer.IsMountPoint(target) {
		return nil
	}
	img := filepath.Join(dir, diskImage)
	if err := refuseAttached(img); err != nil {
		return fmt.Errorf("mount disk: %w", err)
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return fmt.Errorf("mount disk: %w", err)
	}
	if exists(filepath.Join(dir, diskGrowMark)) {
		resize2fs, err := exec.LookPath("resize2fs")
		if err == nil {
			err = growOffline(resize2fs, img)
		}
		if err != nil {
			return fmt.Errorf("mount disk: grow its filesystem: %w", err)
		}
		os.Remove(filepath.Join(dir, diskGrowMark))
		e.trace.Stage("disk filesystem grown to its image's size")
	}
	dev, devFD, err := attachLoop(img)
	if err != nil {
		return fmt.Errorf("mount disk: %w", err)
	}
	// Once mounted, the filesystem holds the device; closing ours leaves
	// the mount the last user, whose unmount clears the device.
	defer unix.Close(devFD)
	if err := unix.Mount(dev, target, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount disk: mount %s on %s: %w", dev, target, err)
	}
	uid, gid := mappedRoot(&rec.Options)
	for _, d := range []string{"upper", "work"} {
		p := filepath.Join(target, d)
		err := os.Mkdir(p, 0o755)
		if err == nil {
			err = os.Lchown(p, uid, gid)
		} else if errors.Is(err, os.ErrExist) {
			err = nil
		}
		if err != nil {
			unmountDisk(dir)
			return fmt.Errorf("mount disk: %w", err)
		}
	}
	if err := placeEtcFiles(dir, target, uid, gid); err != nil {
		unmountDisk(dir)
		return fmt.Errorf("mount disk: %w", err)
	}
	e.trace.Stage("disk image mounted from %s (%d bytes)", dev, rec.Options.StorageSize)
	return nil
}

// etcFiles are the files pcr bind-mounts on the container's /etc.
func etcFiles() []string { return []string{"hostname", "hosts", "resolv.conf"} }

// placeEtcFiles keeps the container's /etc files on its disk, where what
// root inside writes to them counts against the disk's size (on the
// host's filesystem it would not). Create writes them in the container
// dir; the first mount moves each to disk/etc/ and leaves in its place a
// symlink to it, so that config.json's bind sources and every writer of
// them (the network setup, cp) reach the copy on the disk. They exist
// only while the disk is mounted, which it is from mountRootfs on.
func placeEtcFiles(dir, disk string, uid, gid int) error {
	etc := filepath.Join(disk, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("/etc files: %w", err)
	}
	for _, name := range etcFiles() {
		link, onDisk := filepath.Join(dir, name), filepath.Join(etc, name)
		var data []byte
		fi, err := os.Lstat(link)
		switch {
		case err == nil && fi.Mode()&os.ModeSymlink != 0:
			if exists(onDisk) {
				continue
			}
			// The file is gone from the disk: start it empty (the network
			// setup writes hosts and resolv.conf anyway).
			if err := writeEtcFile(onDisk, nil, uid, gid); err != nil {
				return err
			}
			continue
		case err == nil:
			if data, err = os.ReadFile(link); err != nil {
				return fmt.Errorf("/etc files: %w", err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("/etc files: %w", err)
		}
		if err := writeEtcFile(onDisk, data, uid, gid); err != nil {
			return err
		}
		tmp := link + ".link"
		os.Remove(tmp)
		if err := os.Symlink(filepath.Join(diskDir, "etc", name), tmp); err != nil {
			return fmt.Errorf("/etc files: %w", err)
		}
		if err := os.Rename(tmp, link); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("/etc files: %w", err)
		}
	}
	return nil
}

func writeEtcFile(path string, data []byte, uid, gid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("/etc files: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Lchown(path, uid, gid)
	}
	if err != nil {
		return fmt.Errorf("/etc files: %w", err)
	}
	return nil
}

// unmountBusyWait is how long unmountDisk retries a busy disk, and then
// waits for its loop device to go: the container's last processes, or a
// mount namespace another start copied meanwhile, may hold it a moment.
const unmountBusyWait = time.Second

// unmountDisk unmounts disk/ and checks that its loop device went with it.
// Never lazily: a detached ext4 would live on unseen, and the next mount
// would attach the same image to a second loop device. A busy disk stays
// mounted (the next start reuses that mount) and is an error, as is a
// loop device some other mount keeps alive.
func unmountDisk(dir string) error {
	target := filepath.Join(dir, diskDir)
	img := filepath.Join(dir, diskImage)
	if layer.IsMountPoint(target) {
		deadline := time.Now().Add(unmountBusyWait)
		for {
			err := unix.Unmount(target, 0)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				if errors.Is(err, unix.EBUSY) {
					return fmt.Errorf("unmount disk %s: it is busy: a process still uses the container's files (its cwd or an open file under %s), or its rootfs was unmounted lazily and lives on; the disk stays mounted until that is gone", target, dir)
				}
				return fmt.Errorf("unmount disk %s: %w", target, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !exists(img) {
		return nil // no disk (or removed already)
	}
	// The loop device clears itself at its filesystem's last unmount;
	// a copy of the mount elsewhere keeps both alive.
	deadline := time.Now().Add(unmountBusyWait)
	for {
		dev, err := attachedLoop(img)
		if err != nil || dev == "" {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unmount disk: %s still holds %s after the unmount (a mount of its filesystem elsewhere, or a process with %s open%s)", dev, img, dev, holdersOf(dev))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refuseAttached fails when img backs a loop device already.
func refuseAttached(img string) error {
	dev, err := attachedLoop(img)
	if err != nil {
		return err
	}
	if dev != "" {
		return fmt.Errorf("%s still holds %s (a lazily unmounted or foreign mount of its filesystem, or a process with %s open%s); a second loop device on it would corrupt it: end that, then retry", dev, img, dev, holdersOf(dev))
	}
	return nil
}

// attachedLoop is the loop device img backs, or "". Bound loop devices
// have a loop/ dir in sysfs; each is matched by the device and inode
// LOOP_GET_STATUS64 gives, or by its backing_file path where the device
// node cannot be opened.
func attachedLoop(img string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(img, &st); err != nil {
		return "", fmt.Errorf("disk image: %w", err)
	}
	path, err := filepath.EvalSymlinks(img)
	if err != nil {
		return "", fmt.Errorf("disk image: %w", err)
	}
	bound, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, b := range bound {
		dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(b)))
		if fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			info, err := unix.IoctlLoopGetStatus64(fd)
			unix.Close(fd)
			if err == nil {
				if info.Device == uint64(st.Dev) && info.Inode == st.Ino {
					return dev, nil
				}
				continue
			}
			if errors.Is(err, unix.ENXIO) {
				continue // cleared meanwhile
			}
		}
		data, err := os.ReadFile(b)
		if err != nil {
			continue
		}
		if strings.TrimSuffix(strings.TrimSpace(string(data)), " (deleted)") == path {
			return dev, nil
		}
	}
	return "", nil
}

// holdersOf names, for an error, processes whose mount namespace has a
// mount of dev (one per namespace, a few at most), after ": ".
func holdersOf(dev string) string {
	var st unix.Stat_t
	if dev == "" || unix.Stat(dev, &st) != nil {
		return ""
	}
	want := fmt.Sprintf(" %d:%d ", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	procs, _ := filepath.Glob("/proc/[0-9]*")
	seen := map[string]bool{}
	var out []string
	for _, p := range procs {
		ns, err := os.Readlink(filepath.Join(p, "ns", "mnt"))
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		data, err := os.ReadFile(filepath.Join(p, "mountinfo"))
		if err != nil || !strings.Contains(string(data), want) {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(p, "comm"))
		out = append(out, fmt.Sprintf("%s (%s)", filepath.Base(p), strings.TrimSpace(string(comm))))
		if len(out) == 3 {
			break
		}
	}
	if len(out) == 0 {
		return ""
	}
	return ": it is mounted in the mount namespace of pid " + strings.Join(out, ", ")
}

// holdDisk mounts a stopped container's disk for a reader of its upper
// dir (commit, cp, df) and returns what undoes that; a mounted disk (a
// running container) is left as it is. The caller holds the lock.
func (e *Engine) holdDisk(rec *Record) (func(), error) {
	dir := e.dir(rec.ID)
	if rec.Options.StorageSize <= 0 || layer.IsMountPoint(filepath.Join(dir, diskDir)) {
		return func() {}, nil
	}
	if err := e.mountDisk(rec); err != nil {
		return nil, err
	}
	return func() {
		if err := unmountDisk(dir); err != nil {
			e.warnf("container %s: %v", ShortID(rec.ID), err)
		}
	}, nil
}

// loopAttempts bounds the retries when another process takes the free
// loop device between LOOP_CTL_GET_FREE and its configuration.
const loopAttempts = 64

// attachLoop binds file to a free loop device, auto-clearing, and
// returns its path and an open fd (the device stays while that is open).
func attachLoop(file string) (string, int, error) {
	backing, err := unix.Open(file, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("open disk image: %w", err)
	}
	defer unix.Close(backing)
	ctl, err := unix.Open("/dev/loop-control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("loop device: %w", err)
	}
	defer unix.Close(ctl)
	var last error
	for attempt := range loopAttempts {
		n, err := unix.IoctlRetInt(ctl, unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", -1, fmt.Errorf("loop device: get a free one: %w", err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		// devtmpfs makes the node before GET_FREE returns; ENOENT is a
		// device removed meanwhile (or a /dev without devtmpfs).
		fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			err = configureLoop(fd, backing, file)
			if err == nil {
				return dev, fd, nil
			}
			unix.Close(fd)
		}
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOENT) {
			return "", -1, fmt.Errorf("loop device %s: %w", dev, err)
		}
		last = fmt.Errorf("%s: %w", dev, err)
		time.Sleep(time.Duration(attempt%8+1) * 250 * time.Microsecond)
	}
	return "", -1, fmt.Errorf("loop device: none could be had after %d tries: %w", loopAttempts, last)
}

// configureLoop binds and makes auto-clearing in one step (LOOP_CONFIGURE,
// Linux 5.8): there is no moment when the device is bound but would not
// clear itself.
func configureLoop(fd, backing int, file string) error {
	cfg := unix.LoopConfig{Fd: uint32(backing)}
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], file)
	if err := unix.IoctlLoopConfigure(fd, &cfg); err != nil {
		return fmt.Errorf("LOOP_CONFIGURE (Linux 5.8 or later): %w", err)
	}
	return nil
}

// DiskUsage is what the container's writable layer uses and may use:
// statfs of its disk image when it has StorageSize, else the size of its
// upper dir with limit 0. A stopped container's disk is read from its
// superblock, without mounting it. It takes no lock.
func (e *Engine) DiskUsage(ref string) (used, limit uint64, err error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return 0, 0, err
	}
	rec, err := readRecord(e.dir(id))
	if err != nil {
		return 0, 0, fmt.Errorf("disk usage of container %s: %w", ShortID(id), err)
	}
	if rec.Options.StorageSize <= 0 {
		return uint64(DirSize(e.upperDir(rec))), 0, nil
	}
	used, limit, err = e.diskUsage(rec)
	if err != nil {
		return 0, 0, fmt.Errorf("disk usage of container %s: %w", ShortID(id), err)
	}
	return used, limit, nil
}

func (e *Engine) diskUsage(rec *Record) (used, limit uint64, err error) {
	dir := e.dir(rec.ID)
	if mnt := filepath.Join(dir, diskDir); layer.IsMountPoint(mnt) {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			return 0, 0, err
		}
		bs := uint64(st.Bsize)
		return (st.Blocks - st.Bfree) * bs, st.Blocks * bs, nil
	}
	return ext4Usage(filepath.Join(dir, diskImage))
}

// ext4Usage reads used and usable bytes from an unmounted ext4 image's
// superblock, as statfs would give them once mounted (blocks less the
// filesystem's own overhead, which mkfs records).
func ext4Usage(img string) (used, limit uint64, err error) {
	f, err := os.Open(img)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return 0, 0, fmt.Errorf("read superblock of %s: %w", img, err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != 0xEF53 {
		return 0, 0, fmt.Errorf("%s: not an ext4 image", img)
	}
	blocks, free := uint64(le.Uint32(sb[0x04:])), uint64(le.Uint32(sb[0x0C:]))
	if le.Uint32(sb[0x60:])&0x80 != 0 { // INCOMPAT_64BIT
		blocks |= uint64(le.Uint32(sb[0x150:])) << 32
		free |= uint64(le.Uint32(sb[0x158:])) << 32
	}
	overhead := uint64(le.Uint32(sb[0x248:]))
	bs := uint64(1024) << le.Uint32(sb[0x18:])
	if overhead > blocks || free > blocks-overhead {
		return 0, 0, fmt.Errorf("%s: inconsistent superblock", img)
	}
	return (blocks - overhead - free) * bs, (blocks - overhead) * bs, nil
}

// writableSize is what a container's writable layer takes, for system df:
// its upper dir, or what its disk's filesystem has in use.
func (e *Engine) writableSize(rec *Record) int64 {
	if rec.Options.StorageSize > 0 {
		used, _, err := e.diskUsage(rec)
		if err != nil {
			return 0
		}
		return int64(used)
	}
	return DirSize(e.upperDir(rec))
}

// removedSize is what removing a container dir frees, for prune: its
// files' apparent sizes (as Docker counts them), except the sparse disk
// image's, whose apparent size is its cap: its allocated blocks count.
func removedSize(dir string) int64 {
	size := DirSize(dir)
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(dir, diskImage), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		size += st.Blocks*512 - st.Size
	}
	return size
}

// resizeStorage grows a container's disk image (running or not): the
// file first, then the loop device's idea of it, then the filesystem
// (online when mounted). Shrinking is refused. The grow mark is written
// before the file grows and removed once the filesystem has: a grow cut
// short (killed, or no CAP_SYS_RESOURCE for an online one) is finished by
// a retry of the same size or by the next mount. The caller holds the
// container's lock and records the new size.
func (e *Engine) resizeStorage(rec *Record, size int64) error {
	dir := e.dir(rec.ID)
	img := filepath.Join(dir, diskImage)
	mark := filepath.Join(dir, diskGrowMark)
	fail := func(err error) error {
		return fmt.Errorf("resize the disk of container %s: %w", ShortID(rec.ID), err)
	}
	if rec.Options.StorageSize <= 0 {
		return fail(errors.New("it has no disk image (create it with --storage-opt size=SIZE)"))
	}
	if err := validateStorageSize(size); err != nil {
		return fail(err)
	}
	fi, err := os.Stat(img)
	if err != nil {
		return fail(err)
	}
	pending := exists(mark)
	switch {
	case size < fi.Size():
		return fail(fmt.Errorf("shrinking from %d to %d bytes is not supported: a disk can only grow", fi.Size(), size))
	case size == fi.Size() && !pending:
		return nil
	}
	resize2fs, err := exec.LookPath("resize2fs")
	if err != nil {
		return fail(fmt.Errorf("resize2fs (e2fsprogs) is needed: %w", err))
	}
	mnt := filepath.Join(dir, diskDir)
	mounted := layer.IsMountPoint(mnt)
	if !mounted {
		// e2fsck and resize2fs on an image whose filesystem lives on
		// through a loop device would corrupt it.
		if err := refuseAttached(img); err != nil {
			return fail(err)
		}
	}
	if size > fi.Size() {
		if err := os.WriteFile(mark, []byte(strconv.FormatInt(size, 10)), 0o600); err != nil {
			return fail(err)
		}
		if err := os.Truncate(img, size); err != nil {
			return fail(err)
		}
	}
	if !mounted {
		if err := growOffline(resize2fs, img); err != nil {
			return fail(err)
		}
		os.Remove(mark)
		return nil
	}
	if !hasCapSysResource() {
		// ext4 grows online only for CAP_SYS_RESOURCE; the file is grown
		// already, the filesystem follows before the next mount.
		e.warnf("container %s: its filesystem grows to %d bytes at its next start: growing a mounted ext4 needs CAP_SYS_RESOURCE, which pcr lacks", ShortID(rec.ID), size)
		return nil
	}
	dev, err := mountedDevice(mnt)
	if err != nil {
		return fail(err)
	}
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	err = unix.IoctlSetInt(fd, unix.LOOP_SET_CAPACITY, 0)
	unix.Close(fd)
	if err != nil {
		return fail(fmt.Errorf("loop device %s: set capacity: %w", dev, err))
	}
	if out, err := exec.Command(resize2fs, dev).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("resize2fs %s: %w: %s", dev, err, lastLine(out)))
	}
	os.Remove(mark)
	e.trace.Stage("disk of %s grown to %d bytes", ShortID(rec.ID), size)
	return nil
}

// diskGrowMark says that the disk image grew while mounted and its
// filesystem did not: mountDisk grows it before the next mount.
const diskGrowMark = "disk.grow"

// growOffline grows an unmounted image's filesystem to the file's size.
func growOffline(resize2fs, img string) error {
	// Offline resize wants a checked filesystem; -p repairs only what is
	// safe without asking (exit 1 and 2: repaired).
	if out, err := exec.Command("e2fsck", "-f", "-p", img).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() >= 4 {
			return fmt.Errorf("e2fsck: %w: %s", err, lastLine(out))
		}
	}
	if out, err := exec.Command(resize2fs, img).CombinedOutput(); err != nil {
		return fmt.Errorf("resize2fs: %w: %s", err, lastLine(out))
	}
	return nil
}

// hasCapSysResource says whether this process may resize a mounted ext4.
func hasCapSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_SYS_RESOURCE/32].Effective&(1<<(unix.CAP_SYS_RESOURCE%32)) != 0
}

// mountedDevice is the /dev path of the block device mounted on mnt.
func mountedDevice(mnt string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		return "", err
	}
	uevent := fmt.Sprintf("/sys/dev/block/%d:%d/uevent", unix.Major(st.Dev), unix.Minor(st.Dev))
	data, err := os.ReadFile(uevent)
	if err != nil {
		return "", fmt.Errorf("device of %s: %w", mnt, err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(l, "DEVNAME="); ok {
			return "/dev/" + name, nil
		}
	}
	return "", fmt.Errorf("device of %s: no DEVNAME in %s", mnt, uevent)
}
