package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// userns is the host range the tests map the container's IDs to: far from
// the host's own users, so a file owned by it can only be the container's.
const (
	usernsBase = "231072"
	usernsUID  = 231072
	usernsMap  = "0:" + usernsBase + ":65536"
)

// openForUserNS lets a user-namespaced container's root (an unprivileged
// host uid) through the test's private dirs, which t.TempDir makes 0700:
// the runtime resolves the container's rootfs as that user.
func (e *engineEnv) openForUserNS() {
	e.t.Helper()
	for _, d := range []string{filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			e.t.Fatal(err)
		}
	}
}

type ctrInspect struct {
	ID    string
	State struct {
		Status string
		Pid    int
	}
	GraphDriver struct{ Data map[string]string }
	HostConfig  struct {
		StorageOpt map[string]string
		IDMappings *struct{ UidMap, GidMap []string }
	}
}

func (e *engineEnv) inspect(ref string) ctrInspect {
	e.t.Helper()
	var insp []ctrInspect
	if err := json.Unmarshal([]byte(e.pcr("inspect", ref).ok(e.t).stdout), &insp); err != nil || len(insp) != 1 {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return insp[0]
}

// mountsUnder lists the mounts below dir in pcr's (this test's) namespace.
func mountsUnder(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// reachableAs says whether host user uid (its own gid, no other groups)
// can list dir.
func reachableAs(uid uint32, dir string) bool {
	cmd := exec.Command("ls", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	return cmd.Run() == nil
}

func ownerOf(t *testing.T, path string) uint32 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

// TestEngineUserNSRootIsUnprivileged: root in a --uidmap container is the
// mapped host uid, owns what it writes, still owns (through idmapped
// mounts) and can change the image's files, while the shared layers stay
// root's on the host.
func TestEngineUserNSRootIsUnprivileged(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	// A private dir that shuts the mapped root out is a one-line error
	// naming it, and nothing is left.
	e.pcr("run", "--rm", "--uidmap", usernsMap, "busybox", "true").fails(t, "chmod o+x")
	if ids := e.containerIDs(); len(ids) != 0 {
		t.Fatalf("a refused create left containers: %v", ids)
	}
	e.openForUserNS()
	e.pcr("run", "-d", "--name", "u", "--uidmap", usernsMap, "busybox", "sh", "-c", "echo made > /tmp/made; exec sleep 60").ok(t)
	c := e.inspect("u")
	// The container dir lets the mapped root through (the runtime resolved
	// the rootfs as it) and no other host user; without a user namespace
	// it is host root's alone. pcr's root and containers dir are open
	// (o+x) for the mapped root.
	e.pcr("run", "-d", "--name", "plain", "busybox", "sleep", "60").ok(t)
	plain := e.inspect("plain")
	for _, x := range []struct {
		id       string
		mode     os.FileMode
		gid      uint32
		mappedIn bool
	}{{c.ID, 0o710, usernsUID, true}, {plain.ID, 0o700, 0, false}} {
		dir := filepath.Join(e.root, "containers", x.id)
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != x.mode || fi.Sys().(*syscall.Stat_t).Gid != x.gid {
			t.Errorf("container dir %s: %v gid %d, want %v gid %d", dir, fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid, x.mode, x.gid)
		}
		rootfs := filepath.Join(dir, "rootfs")
		if reachableAs(65534, rootfs) {
			t.Errorf("host user 65534 lists %s", rootfs)
		}
		if reachableAs(usernsUID, rootfs) != x.mappedIn {
			t.Errorf("the mapped root lists %s: %v, want %v", rootfs, !x.mappedIn, x.mappedIn)
		}
	}
	e.pcr("rm", "-f", "plain").ok(t)
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.State.Pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") {
			for _, id := range f[1:] {
				if id != usernsBase {
					t.Errorf("container's root on the host: %q, want %s throughout", l, usernsBase)
				}
			}
		}
	}
	upper := c.GraphDriver.Data["UpperDir"]
	made := filepath.Join(upper, "tmp", "made")
	waitFor(t, 10*time.Second, made, func() bool { _, err := os.Stat(made); return err == nil })
	if uid := ownerOf(t, made); uid != usernsUID {
		t.Errorf("a file root wrote in the container is owned by %d on the host, want %d", uid, usernsUID)
	}
	if out := e.pcr("exec", "u", "id", "-u").ok(t).stdout; out != "0\n" {
		t.Errorf("id -u inside: %q, want 0", out)
	}
	if f := strings.Fields(e.pcr("exec", "u", "cat", "/proc/self/uid_map").ok(t).stdout); strings.Join(f, " ") != "0 "+usernsBase+" 65536" {
		t.Errorf("uid_map inside: %v", f)
	}
	// Idmapped layers: the image's root-owned files are root's inside too
	// (65534 would mean the plain, unmapped layers).
	if out := e.pcr("exec", "u", "stat", "-c", "%u:%g", "/bin/busybox", "/etc/passwd").ok(t).stdout; out != "0:0\n0:0\n" {
		t.Errorf("owners of image files inside: %q, want 0:0", out)
	}
	line := "slice:x:1000:1000::/home/slice:/bin/sh"
	if out := e.pcr("exec", "u", "sh", "-c", "echo "+line+" >> /etc/passwd && tail -n 1 /etc/passwd").ok(t).stdout; out != line+"\n" {
		t.Errorf("root inside changing /etc/passwd: %q", out)
	}
	if uid := ownerOf(t, filepath.Join(upper, "etc", "passwd")); uid != usernsUID {
		t.Errorf("copied-up /etc/passwd owned by %d on the host, want %d", uid, usernsUID)
	}
	// The shared layers: untouched and root's.
	for _, l := range strings.Split(c.GraphDriver.Data["LowerDir"], ":") {
		if uid := ownerOf(t, l); uid != 0 {
			t.Errorf("layer %s owned by %d, want 0", l, uid)
		}
		passwd := filepath.Join(l, "etc", "passwd")
		if data, err := os.ReadFile(passwd); err == nil {
			if strings.Contains(string(data), "slice:") {
				t.Errorf("the container's change reached the image's layer %s", passwd)
			}
			if uid := ownerOf(t, passwd); uid != 0 {
				t.Errorf("%s owned by %d, want 0", passwd, uid)
			}
		}
	}
	filepath.Walk(filepath.Join(e.root, "layers"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Sys().(*syscall.Stat_t).Uid == usernsUID {
			t.Errorf("image layer file %s was chowned to the container's root", p)
			return filepath.SkipAll
		}
		return nil
	})
	e.pcr("rm", "-f", "u").ok(t)
	if m := mountsUnder(e.root); len(m) != 0 {
		t.Errorf("rm left mounts: %v", m)
	}
}

// TestEngineStorageSizeCap: --storage-opt size puts the writable layer on
// a filesystem of that size: writes past it fail with ENOSPC there only,
// what was written outlives stop and start, cp reads a stopped container's
// disk, and no loop device or mount outlives stop or rm.
func TestEngineStorageSizeCap(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("run", "-d", "--name", "d", "--storage-opt", "size=32m", "busybox", "sleep", "60").ok(t)
	e.pcr("exec", "d", "dd", "if=/dev/zero", "of=/one", "bs=1048576", "count=1").ok(t)
	if loops := loopDevicesUnder(e.dir); len(loops) != 1 || !strings.HasSuffix(loops[0], "disk.img") {
		t.Errorf("loop devices of the running container: %v, want its disk.img", loops)
	}
	r := e.pcr("exec", "d", "dd", "if=/dev/zero", "of=/big", "bs=1048576", "count=64")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "No space left on device") {
		t.Errorf("writing 64MiB on a 32MiB disk: exit %d, %q %q; want No space left on device", r.code, r.stdout, r.stderr)
	}
	// Another container writes as much as it likes meanwhile.
	if out := e.pcr("run", "--rm", "busybox", "sh", "-c", "dd if=/dev/zero of=/big bs=1048576 count=40 2>/dev/null && echo ok").ok(t).stdout; out != "ok\n" {
		t.Errorf("a container without a cap writing 40MiB next to a full one: %q", out)
	}
	e.pcr("stop", "-t", "1", "d").ok(t)
	if m := mountsUnder(e.root); len(m) != 0 {
		t.Errorf("stop left mounts: %v", m)
	}
	if loops := loopDevicesUnder(e.dir); len(loops) != 0 {
		t.Errorf("stop left loop devices: %v", loops)
	}
	copied := filepath.Join(e.dir, "one")
	e.pcr("cp", "d:/one", copied).ok(t)
	if fi, err := os.Stat(copied); err != nil || fi.Size() != 1<<20 {
		t.Errorf("cp from the stopped container's disk: %v, %v", fi, err)
	}
	if m, loops := mountsUnder(e.root), loopDevicesUnder(e.dir); len(m)+len(loops) != 0 {
		t.Errorf("cp from a stopped container left mounts %v, loop devices %v", m, loops)
	}
	e.pcr("start", "d").ok(t)
	if out := e.pcr("exec", "d", "stat", "-c", "%s", "/one").ok(t).stdout; out != "1048576\n" {
		t.Errorf("/one after a restart: %q", out)
	}
	e.pcr("rm", "-f", "d").ok(t)
	// prune counts what the sparse image holds, not its size.
	e.pcr("create", "--storage-opt", "size=1g", "busybox", "true").ok(t)
	out := e.pcr("container", "prune", "-f").ok(t).stdout
	if !strings.Contains(out, "Total reclaimed space:") || strings.Contains(out, "GB") || strings.Contains(out, "1e+09") {
		t.Errorf("prune of a container with an empty 1GB disk: %q, want far less than 1GB", out)
	}
	if m, loops := mountsUnder(e.root), loopDevicesUnder(e.dir); len(m)+len(loops) != 0 {
		t.Errorf("rm -f left mounts %v, loop devices %v", m, loops)
	}
}

// TestEngineUserNSDiskTeardown: a container with both a user namespace and
// a disk is torn down whichever way its run ends: its init killed, or the
// pcr running it in the foreground killed and the container removed.
func TestEngineUserNSDiskTeardown(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.openForUserNS()
	flags := []string{"--uidmap", usernsMap, "--storage-opt", "size=32m"}
	e.pcr(append(append([]string{"run", "-d", "--name", "k"}, flags...), "busybox", "sh", "-c", "echo x > /f; exec sleep 60")...).ok(t)
	c := e.inspect("k")
	if m := c.HostConfig.IDMappings; m == nil || strings.Join(m.UidMap, " ") != usernsMap || strings.Join(m.GidMap, " ") != usernsMap {
		t.Errorf("inspect's IDMappings: %+v, want %s both", m, usernsMap)
	}
	if size := c.HostConfig.StorageOpt["size"]; size != "33554432" {
		t.Errorf("inspect's StorageOpt size: %q, want 33554432", size)
	}
	if out := e.pcr("exec", "k", "stat", "-c", "%u %s", "/f").ok(t).stdout; out != "0 2\n" {
		t.Errorf("root's file on the disk, inside: %q", out)
	}
	if uid := ownerOf(t, filepath.Join(c.GraphDriver.Data["UpperDir"], "f")); uid != usernsUID {
		t.Errorf("root's file on the disk owned by %d on the host, want %d", uid, usernsUID)
	}
	// The /etc files are on the disk too: root inside cannot write past
	// the cap through them.
	if l, err := os.Readlink(filepath.Join(e.root, "containers", c.ID, "hosts")); err != nil || l != "disk/etc/hosts" {
		t.Errorf("the container dir's hosts: %q, %v; want a link to disk/etc/hosts", l, err)
	}
	r := e.pcr("exec", "k", "dd", "if=/dev/zero", "of=/etc/hosts", "bs=1048576", "count=64")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "No space left on device") {
		t.Errorf("writing 64MiB to /etc/hosts on a 32MiB disk: exit %d, %q %q; want No space left on device", r.code, r.stdout, r.stderr)
	}
	e.pcr("exec", "k", "sh", "-c", "echo 127.0.0.1 localhost > /etc/hosts").ok(t)
	if err := syscall.Kill(c.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.pcr("wait", "k").ok(t)
	waitFor(t, 10*time.Second, "the killed container's mounts and loop device to go", func() bool {
		return len(mountsUnder(e.root))+len(loopDevicesUnder(e.dir)) == 0
	})
	// A restart mounts it all again, and the data is there.
	e.pcr("start", "k").ok(t)
	if out := e.pcr("exec", "k", "cat", "/f").ok(t).stdout; out != "x\n" {
		t.Errorf("/f after a restart: %q", out)
	}
	e.pcr("rm", "-f", "k").ok(t)

	fg := e.command(append(append([]string{"run", "--name", "fg"}, flags...), "busybox", "sleep", "60")...)
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the foreground container to run", func() bool {
		r := e.pcr("inspect", "fg")
		return r.code == 0 && strings.Contains(r.stdout, `"Status": "running"`)
	})
	fg.Process.Kill()
	fg.Wait()
	e.pcr("rm", "-f", "fg").ok(t)
	if m, loops := mountsUnder(e.root), loopDevicesUnder(e.dir); len(m)+len(loops) != 0 {
		t.Errorf("rm -f after a killed pcr left mounts %v, loop devices %v", m, loops)
	}
}

// TestEngineUserNSDiskBadInput: bad maps and sizes are one-line errors
// from run and create, before anything is made.
func TestEngineUserNSDiskBadInput(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.openForUserNS()
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--uidmap", "garbage"}, "invalid --uidmap"},
		{[]string{"--uidmap", "0:100000"}, "CONTAINER:HOST:SIZE"},
		{[]string{"--uidmap", "0:x:1"}, "invalid --uidmap"},
		{[]string{"--uidmap", "1:" + usernsBase + ":10"}, "container ID 0 is not mapped"},
		{[]string{"--uidmap", "0:" + usernsBase + ":0"}, "size must be greater than 0"},
		{[]string{"--uidmap", usernsMap, "--gidmap", "0:1:10", "--gidmap", "10:5:2"}, "same host IDs"},
		{[]string{"--uidmap", "0:4294967295:2"}, "past the largest ID"},
		{[]string{"--storage-opt", "size=1m"}, "the minimum is 16MB"},
		{[]string{"--storage-opt", "size=lots"}, "invalid --storage-opt"},
		{[]string{"--storage-opt", "inodes=10"}, "pcr knows size=SIZE"},
	} {
		for _, verb := range []string{"run", "create"} {
			args := append(append([]string{verb, "--name", "bad"}, c.flags...), "busybox", "true")
			r := e.pcr(args...).fails(t, c.want)
			if r.code != 125 {
				t.Errorf("pcr %s: exit %d, want 125", strings.Join(args, " "), r.code)
			}
			if ids := e.containerIDs(); len(ids) != 0 {
				t.Fatalf("pcr %s left containers: %v", strings.Join(args, " "), ids)
			}
			if m, loops := mountsUnder(e.root), loopDevicesUnder(e.dir); len(m)+len(loops) != 0 {
				t.Fatalf("pcr %s left mounts %v, loop devices %v", strings.Join(args, " "), m, loops)
			}
		}
	}
}
