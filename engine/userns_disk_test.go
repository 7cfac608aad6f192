package engine

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/image/layer"
)

func TestParseIDMaps(t *testing.T) {
	got, err := ParseIDMaps("uidmap", []string{"0:100000:65536", "65536:4294901760:1"})
	want := []IDMap{{0, 100000, 65536}, {65536, 4294901760, 1}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseIDMaps = %v, %v; want %v", got, err, want)
	}
	for _, in := range []string{"", "0:1", "0:1:2:3", "a:1:2", "0:-1:2", "0:1:4294967296", "+0:1:2", "0:@1:2"} {
		if m, err := ParseIDMaps("uidmap", []string{in}); err == nil {
			t.Errorf("ParseIDMaps(%q) = %v, want an error", in, m)
		} else if !strings.Contains(err.Error(), "--uidmap") {
			t.Errorf("ParseIDMaps(%q): %v does not name the flag", in, err)
		}
	}
}

func TestValidateUserNSAndStorage(t *testing.T) {
	root := []IDMap{{0, 100000, 65536}}
	bad := map[string]Options{
		"uid without gid":    {UIDMap: root},
		"gid without uid":    {GIDMap: root},
		"zero size":          {UIDMap: []IDMap{{0, 100000, 0}}, GIDMap: root},
		"root unmapped":      {UIDMap: []IDMap{{1, 100000, 10}}, GIDMap: root},
		"gid root unmapped":  {UIDMap: root, GIDMap: []IDMap{{1000, 100000, 10}}},
		"container overlap":  {UIDMap: []IDMap{{0, 100000, 10}, {5, 200000, 10}}, GIDMap: root},
		"host overlap":       {UIDMap: []IDMap{{0, 100000, 10}, {10, 100005, 10}}, GIDMap: root},
		"past the last ID":   {UIDMap: []IDMap{{0, 4294967295, 2}}, GIDMap: root},
		"too many lines":     {UIDMap: manyMaps(maxIDMapLines + 1), GIDMap: root},
		"storage too small":  {StorageSize: 1 << 20},
		"storage negative":   {StorageSize: -1},
		"storage just below": {StorageSize: MinStorageSize - 1},
	}
	for name, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate(%+v) passed, want an error", name, o)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q is not one line", name, err)
		}
	}
	good := []Options{
		{},
		{UIDMap: root, GIDMap: root},
		{UIDMap: []IDMap{{0, 1 << 30, 1}, {1, 100000, 65535}}, GIDMap: []IDMap{{1000, 300000, 1}, {0, 200000, 1000}}},
		{UIDMap: manyMaps(maxIDMapLines), GIDMap: root},
		{StorageSize: MinStorageSize},
		{StorageSize: 10 << 30, UIDMap: root, GIDMap: root},
	}
	for _, o := range good {
		if err := o.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", o, err)
		}
	}
}

func manyMaps(n int) []IDMap {
	out := make([]IDMap, n)
	for i := range out {
		out[i] = IDMap{ContainerID: uint32(i), HostID: 100000 + uint32(i), Size: 1}
	}
	return out
}

func TestParseStorageOpts(t *testing.T) {
	if n, err := ParseStorageOpts([]string{"size=32m"}); err != nil || n != 32<<20 {
		t.Errorf("ParseStorageOpts(size=32m) = %d, %v", n, err)
	}
	if n, err := ParseStorageOpts(nil); err != nil || n != 0 {
		t.Errorf("ParseStorageOpts() = %d, %v", n, err)
	}
	for _, in := range []string{"size", "size=", "size=abc", "size=0", "inodes=10", "32m"} {
		if n, err := ParseStorageOpts([]string{in}); err == nil {
			t.Errorf("ParseStorageOpts(%q) = %d, want an error", in, n)
		}
	}
}

func TestMapToHost(t *testing.T) {
	maps := []IDMap{{1, 500, 9}, {0, 100000, 1}}
	for id, want := range map[uint32]uint32{0: 100000, 1: 500, 9: 508} {
		if got, ok := mapToHost(maps, id); !ok || got != want {
			t.Errorf("mapToHost(%d) = %d, %v; want %d", id, got, ok, want)
		}
	}
	if got, ok := mapToHost(maps, 10); ok {
		t.Errorf("mapToHost(10) = %d, want unmapped", got)
	}
	o := &Options{UIDMap: maps, GIDMap: []IDMap{{0, 7, 1}}}
	if u, g := mappedRoot(o); u != 100000 || g != 7 {
		t.Errorf("mappedRoot = %d, %d", u, g)
	}
	if u, g := mappedRoot(&Options{}); u != 0 || g != 0 {
		t.Errorf("mappedRoot without maps = %d, %d", u, g)
	}
}

func TestBuildSpecUserNS(t *testing.T) {
	in := &specInput{id: strings.Repeat("ab", 32), dir: "/c"}
	in.image.Cmd = []string{"sh"}
	s, err := buildSpec(in, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	if hasNamespace(s, specs.UserNamespace) || len(s.Linux.UIDMappings) > 0 {
		t.Errorf("a container without maps got a user namespace")
	}
	o := &Options{UIDMap: []IDMap{{0, 100000, 65536}}, GIDMap: []IDMap{{0, 100000, 1}}}
	if s, err = buildSpec(in, o); err != nil {
		t.Fatal(err)
	}
	if !hasNamespace(s, specs.UserNamespace) {
		t.Fatalf("no user namespace in %+v", s.Linux.Namespaces)
	}
	if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}; !slices.Equal(s.Linux.UIDMappings, want) {
		t.Errorf("uidMappings = %v, want %v", s.Linux.UIDMappings, want)
	}
	if want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1}}; !slices.Equal(s.Linux.GIDMappings, want) {
		t.Errorf("gidMappings = %v, want %v", s.Linux.GIDMappings, want)
	}
	for _, m := range s.Mounts {
		if m.Type == "devpts" && slices.Contains(m.Options, "gid=5") {
			t.Errorf("devpts keeps gid=5, which the gid map leaves out: %v", m.Options)
		}
	}
}

func hasNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == typ })
}

// The superblock reader must agree with what mkfs wrote, which is what
// statfs reports once the image is mounted.
func TestExt4UsageFromSuperblock(t *testing.T) {
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mkfs.ext4 is needed")
		}
		t.Skip("no mkfs.ext4")
	}
	dir := t.TempDir()
	o := &Options{StorageSize: 32 << 20}
	if err := createDisk(dir, o); err != nil {
		t.Fatal(err)
	}
	used, limit, err := ext4Usage(filepath.Join(dir, diskImage))
	if err != nil {
		t.Fatal(err)
	}
	if limit == 0 || limit > 32<<20 || limit < 20<<20 {
		t.Errorf("limit = %d, want most of 32MiB", limit)
	}
	if used == 0 || used > 1<<20 {
		t.Errorf("used = %d on a fresh filesystem", used)
	}
	if fi, err := os.Stat(filepath.Join(dir, diskImage)); err != nil || fi.Size() != 32<<20 {
		t.Errorf("image: %v, %v", fi, err)
	}
	if _, _, err := ext4Usage(filepath.Join(dir, diskDir)); err == nil {
		t.Errorf("ext4Usage of a directory passed")
	}
}

// A disk grows online (mounted: file, loop capacity, resize2fs on the
// device) and offline (e2fsck, resize2fs on the file), never shrinks, and
// its loop device goes with the unmount.
func TestResizeStorage(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (loop devices, mount)")
		}
		t.Skip("needs root")
	}
	for _, tool := range []string{"mkfs.ext4", "resize2fs", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	tmp := t.TempDir()
	e, err := New(filepath.Join(tmp, "root"), filepath.Join(tmp, "state"), WithLog(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{ID: strings.Repeat("d1", 32), Name: "disk", Options: Options{StorageSize: 32 << 20}}
	dir := e.dir(rec.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := writeRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	if err := createDisk(dir, &rec.Options); err != nil {
		t.Fatal(err)
	}
	if err := e.mountDisk(rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountDisk(dir) })
	if err := os.WriteFile(filepath.Join(e.upperDir(rec), "f"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	used, limit32, err := e.DiskUsage(rec.ID)
	if err != nil || used < 1<<20 || limit32 > 32<<20 {
		t.Fatalf("DiskUsage = %d, %d, %v", used, limit32, err)
	}
	if err := e.resizeStorage(rec, 64<<20); err != nil {
		t.Fatal(err)
	}
	if !hasCapSysResource() {
		// Then the filesystem grows at the next mount.
		if _, l, err := e.DiskUsage(rec.ID); err != nil || l != limit32 {
			t.Fatalf("grown while mounted without CAP_SYS_RESOURCE: limit %d, was %d, %v", l, limit32, err)
		}
		if err := unmountDisk(dir); err != nil {
			t.Fatal(err)
		}
		if err := e.mountDisk(rec); err != nil {
			t.Fatal(err)
		}
		if exists(filepath.Join(dir, diskGrowMark)) {
			t.Errorf("the mark stays after the mount grew the filesystem")
		}
	}
	_, limit64, err := e.DiskUsage(rec.ID)
	if err != nil || limit64 < limit32+24<<20 {
		t.Fatalf("after growing online to 64MiB: limit %d (was %d), %v", limit64, limit32, err)
	}
	if err := e.resizeStorage(rec, 48<<20); err == nil || !strings.Contains(err.Error(), "shrink") {
		t.Errorf("shrinking: %v, want a refusal", err)
	}
	if err := unmountDisk(dir); err != nil {
		t.Fatal(err)
	}
	used2, limit64b, err := e.DiskUsage(rec.ID)
	if err != nil || limit64b != limit64 || used2 < 1<<20 {
		t.Fatalf("unmounted DiskUsage = %d, %d, %v; want limit %d", used2, limit64b, err, limit64)
	}
	if err := e.resizeStorage(rec, 80<<20); err != nil {
		t.Fatal(err)
	}
	if _, limit80, err := e.DiskUsage(rec.ID); err != nil || limit80 < limit64+12<<20 {
		t.Fatalf("after growing offline to 80MiB: limit %d, %v", limit80, err)
	}
	if l := loopsUnder(tmp); len(l) != 0 {
		t.Errorf("loop devices left: %v", l)
	}
	plain := &Record{ID: strings.Repeat("e2", 32)}
	if err := e.resizeStorage(plain, 64<<20); err == nil {
		t.Errorf("resizing a container without a disk passed")
	}
}

// Parallel starts race for the same free loop device; each must end up
// with its own, and closing it (autoclear) must free it.
func TestAttachLoopParallel(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (loop devices)")
		}
		t.Skip("needs root")
	}
	dir := t.TempDir()
	const n = 12
	devs := make([]string, n)
	fds := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		img := filepath.Join(dir, fmt.Sprintf("%d.img", i))
		if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			devs[i], fds[i], errs[i] = attachLoop(img)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("attach %d: %v", i, errs[i])
			continue
		}
		if seen[devs[i]] {
			t.Errorf("%s given twice", devs[i])
		}
		seen[devs[i]] = true
		unix.Close(fds[i])
	}
	for range 100 {
		if len(loopsUnder(dir)) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("loop devices left after the last close: %v", loopsUnder(dir))
}

func loopsUnder(dir string) []string {
	var out []string
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.HasPrefix(string(b), dir) {
			out = append(out, f)
		}
	}
	return out
}

// newDiskContainer makes a container dir with a disk image (and the /etc
// files create writes) for the disk tests, which need root.
func newDiskContainer(t *testing.T, o Options) (*Engine, *Record) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (loop devices, mount)")
		}
		t.Skip("needs root")
	}
	for _, tool := range []string{"mkfs.ext4", "resize2fs", "e2fsck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	tmp := t.TempDir()
	e, err := New(filepath.Join(tmp, "root"), filepath.Join(tmp, "state"), WithLog(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{ID: strings.Repeat("c3", 32), Name: "disk", Options: o}
	dir := e.dir(rec.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	for _, f := range etcFiles() {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f+" of the container\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := createDisk(dir, &rec.Options); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountDisk(dir) })
	return e, rec
}

// The /etc files move onto the disk at its first mount (symlinks left in
// the container dir), owned by the container's root, and stay there.
func TestDiskKeepsEtcFiles(t *testing.T) {
	o := Options{StorageSize: 32 << 20, UIDMap: []IDMap{{0, 231072, 65536}}, GIDMap: []IDMap{{0, 231072, 65536}}}
	e, rec := newDiskContainer(t, o)
	dir := e.dir(rec.ID)
	for range 2 { // the second mount finds them moved
		if err := e.mountDisk(rec); err != nil {
			t.Fatal(err)
		}
		for _, f := range etcFiles() {
			link := filepath.Join(dir, f)
			if target, err := os.Readlink(link); err != nil || target != filepath.Join(diskDir, "etc", f) {
				t.Errorf("%s: %q, %v; want a symlink to the disk", f, target, err)
			}
			if data, err := os.ReadFile(link); err != nil || string(data) != f+" of the container\n" {
				t.Errorf("%s through the link: %q, %v", f, data, err)
			}
			var st unix.Stat_t
			if err := unix.Stat(link, &st); err != nil || st.Uid != 231072 || st.Gid != 231072 {
				t.Errorf("%s on the disk: owner %d:%d, %v; want the container's root", f, st.Uid, st.Gid, err)
			}
		}
		if err := unmountDisk(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// A busy disk stays mounted and fails the unmount (never a lazy one); an
// image that still backs a loop device is refused by mount and resize.
func TestDiskNeverTwoLoopDevices(t *testing.T) {
	e, rec := newDiskContainer(t, Options{StorageSize: 32 << 20})
	dir := e.dir(rec.ID)
	if err := e.mountDisk(rec); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(e.upperDir(rec), "open"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unmountDisk(dir); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("unmounting a disk with an open file: %v, want busy", err)
	}
	if !layer.IsMountPoint(filepath.Join(dir, diskDir)) {
		t.Errorf("the busy disk was unmounted (lazily?)")
	}
	f.Close()
	if err := unmountDisk(dir); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, diskImage)
	dev, fd, err := attachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mountDisk(rec); err == nil || !strings.Contains(err.Error(), dev) {
		t.Errorf("mounting an image %s holds: %v, want a refusal naming it", dev, err)
	}
	if err := e.resizeStorage(rec, 48<<20); err == nil || !strings.Contains(err.Error(), dev) {
		t.Errorf("resizing an image %s holds: %v, want a refusal naming it", dev, err)
	}
	if err := unmountDisk(dir); err == nil || !strings.Contains(err.Error(), dev) {
		t.Errorf("unmountDisk with %s still holding the image: %v, want it named", dev, err)
	}
	unix.Close(fd) // auto-clearing: the device goes
	if d, err := attachedLoop(img); err != nil || d != "" {
		t.Fatalf("after closing the only fd: %q, %v", d, err)
	}
	if err := e.mountDisk(rec); err != nil {
		t.Fatal(err)
	}
}

// A grow killed between the file's growth and the filesystem's is
// finished by a retry of the same size.
func TestResizeStorageFinishesACutGrow(t *testing.T) {
	e, rec := newDiskContainer(t, Options{StorageSize: 32 << 20})
	dir := e.dir(rec.ID)
	_, limit32, err := e.DiskUsage(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// What resizeStorage leaves when killed after its truncate.
	if err := os.WriteFile(filepath.Join(dir, diskGrowMark), []byte("67108864"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, diskImage), 64<<20); err != nil {
		t.Fatal(err)
	}
	if err := e.resizeStorage(rec, 64<<20); err != nil {
		t.Fatal(err)
	}
	if _, l, err := e.DiskUsage(rec.ID); err != nil || l < limit32+24<<20 {
		t.Errorf("after the retry: limit %d (was %d), %v", l, limit32, err)
	}
	if exists(filepath.Join(dir, diskGrowMark)) {
		t.Errorf("the grow mark stays after the retry")
	}
	if err := e.resizeStorage(rec, 64<<20); err != nil {
		t.Errorf("the same size again: %v", err)
	}
}

// The container dir is root's alone, or searchable by the mapped root's
// group only with a user namespace; an old 0711 one is tightened.
func TestSecureContainerDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	check := func(o Options, gid uint32, mode uint32) {
		t.Helper()
		if err := secureContainerDir(dir, &o); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil || st.Uid != 0 || st.Gid != gid || st.Mode&0o7777 != mode {
			t.Errorf("container dir %d:%d %04o, %v; want 0:%d %04o", st.Uid, st.Gid, st.Mode&0o7777, err, gid, mode)
		}
	}
	check(Options{}, 0, 0o700)
	check(Options{UIDMap: []IDMap{{0, 231072, 65536}}, GIDMap: []IDMap{{0, 300000, 65536}}}, 300000, 0o710)
	check(Options{}, 0, 0o700)
}
