package integration

// Every field of an OCI config.json, checked from inside the container with
// busybox: what a user of the container would see, not what pcr says.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Capability numbers (linux/capability.h) used to build expected masks.
const (
	capChown          = 0
	capKill           = 5
	capNetBindService = 10
	capNetRaw         = 13
	capSysAdmin       = 21
)

// ociCaps gives the process exactly these capabilities in the bounding,
// effective and permitted sets.
func ociCaps(s *specs.Spec, names ...string) {
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: names, Effective: names, Permitted: names,
	}
}

func ociCapMask(caps ...int) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << c
	}
	return m
}

// ociStatusField returns one field of a /proc/<pid>/status text.
func ociStatusField(t *testing.T, status, name string) string {
	t.Helper()
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in status:\n%s", name, status)
	return ""
}

// ociMount is one /proc/self/mountinfo line, split into what tests check.
type ociMount struct {
	root, point, opts, optional, fstype, source, superOpts string
}

func (m ociMount) hasOpt(o string) bool {
	for _, s := range strings.Split(m.opts, ",") {
		if s == o {
			return true
		}
	}
	return false
}

// ociFindMount returns the topmost mount on point in a mountinfo text.
func ociFindMount(t *testing.T, mountinfo, point string) ociMount {
	t.Helper()
	var found *ociMount
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		if len(f) < 10 || f[4] != point {
			continue
		}
		m := ociMount{root: f[3], point: f[4], opts: f[5]}
		i := 6
		var optional []string
		for ; i < len(f) && f[i] != "-"; i++ {
			optional = append(optional, f[i])
		}
		m.optional = strings.Join(optional, " ")
		if i+3 < len(f) {
			m.fstype, m.source, m.superOpts = f[i+1], f[i+2], f[i+3]
		}
		found = &m
	}
	if found == nil {
		t.Fatalf("no mount on %s in mountinfo:\n%s", point, mountinfo)
	}
	return *found
}

// ociCreate runs `pcr oci create` with the container's stdio in files, so
// that no pipe held by the container keeps the test waiting, and returns
// the id, the host pid of the init and the path of its stdout.
func (e *env) ociCreate(bundle string, extra ...string) (id string, pid int, stdout string) {
	e.t.Helper()
	id = e.id()
	stdout = filepath.Join(e.dir, id+".out")
	so, err := os.Create(stdout)
	if err != nil {
		e.t.Fatal(err)
	}
	defer so.Close()
	se, err := os.Create(filepath.Join(e.dir, id+".err"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer se.Close()
	args := append([]string{"oci", "--root", e.root, "create"}, extra...)
	args = append(args, "--bundle", bundle, id)
	cmd := exec.Command(pcrBin, args...)
	cmd.Stdout, cmd.Stderr = so, se
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		e.t.Fatalf("pcr create %s: timed out", id)
	}
	if err != nil {
		msg, _ := os.ReadFile(se.Name())
		e.t.Fatalf("pcr create %s: %v: %s", id, err, msg)
	}
	pid = int(e.state(id)["pid"].(float64))
	return id, pid, stdout
}

// ociWaitStopped polls until the container's process has exited.
func (e *env) ociWaitStopped(id string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if e.state(id)["status"] == "stopped" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("container %s still running after 20s", id)
}

// ociHolder starts a detached container that sleeps, for others to join.
func (e *env) ociHolder(mutate func(*specs.Spec)) (id string, pid int) {
	e.t.Helper()
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "60"}
		if mutate != nil {
			mutate(s)
		}
	})
	id, pid, _ = e.ociCreate(b)
	e.pcr("start", id).ok(e.t)
	return id, pid
}

func ociWithoutNS(s *specs.Spec, typ specs.LinuxNamespaceType) {
	var kept []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != typ {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
}

func ociSetNS(s *specs.Spec, typ specs.LinuxNamespaceType, path string) {
	ociWithoutNS(s, typ)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
}

func ociLines(s string) []string {
	return strings.Split(strings.TrimSpace(s), "\n")
}

// --- namespaces ---

func TestOCINamespacePID(t *testing.T) {
	e := newEnv(t)
	out := ociLines(e.runSh(`echo $$; ps -o pid,comm; true`, nil))
	if out[0] != "1" {
		t.Errorf("$$ = %q, want 1 in a new pid namespace", out[0])
	}
	// ps lists the header, sh (pid 1) and ps itself: no host process.
	procs := out[2:]
	if len(procs) != 2 {
		t.Errorf("ps shows %d processes, want sh and ps only:\n%s", len(procs), strings.Join(out[1:], "\n"))
	}
	for _, l := range procs {
		pid, _ := strconv.Atoi(strings.Fields(l)[0])
		if pid < 1 || pid > 10 {
			t.Errorf("ps shows pid %d, not a fresh namespace's", pid)
		}
	}

	// Without a pid namespace the shell gets a host pid.
	out = ociLines(e.runSh(`echo $$`, func(s *specs.Spec) { ociWithoutNS(s, specs.PIDNamespace) }))
	if out[0] == "1" {
		t.Errorf("without a pid namespace $$ is still 1")
	}
}

func TestOCINamespaceMount(t *testing.T) {
	e := newEnv(t)
	marker := "pcrmark" + e.tag
	out := e.runSh(`mount -t tmpfs `+marker+` /tmp && grep -c `+marker+` /proc/self/mountinfo`, func(s *specs.Spec) {
		ociCaps(s, "CAP_SYS_ADMIN")
	})
	if strings.TrimSpace(out) != "1" {
		t.Fatalf("tmpfs not mounted inside: %q", out)
	}
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(host), marker) {
		t.Errorf("the container's tmpfs %s reached the host's mount table", marker)
	}
}

func TestOCINamespaceNet(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`tail -n +3 /proc/net/dev | cut -d: -f1`, nil)
	var ifaces []string
	for _, l := range ociLines(out) {
		ifaces = append(ifaces, strings.TrimSpace(l))
	}
	if strings.Join(ifaces, ",") != "lo" {
		t.Errorf("interfaces in a new net namespace = %v, want only lo", ifaces)
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	inside := strings.TrimSpace(e.runSh(`readlink /proc/self/ns/net`, nil))
	if inside == hostNet {
		t.Errorf("container net namespace %s is the host's", inside)
	}
	inside = strings.TrimSpace(e.runSh(`readlink /proc/self/ns/net`, func(s *specs.Spec) { ociWithoutNS(s, specs.NetworkNamespace) }))
	if inside != hostNet {
		t.Errorf("without a net namespace the container has %s, want the host's %s", inside, hostNet)
	}
}

func TestOCINamespaceUTS(t *testing.T) {
	e := newEnv(t)
	hostBefore, _ := os.Hostname()
	name := "h-" + e.tag
	out := ociLines(e.runSh(`hostname; hostname changed-inside; hostname`, func(s *specs.Spec) {
		s.Hostname = name
		ociCaps(s, "CAP_SYS_ADMIN")
	}))
	if len(out) != 2 || out[0] != name || out[1] != "changed-inside" {
		t.Errorf("hostname inside = %q, want %s then changed-inside", out, name)
	}
	if hostAfter, _ := os.Hostname(); hostAfter != hostBefore {
		t.Errorf("host hostname changed from %s to %s", hostBefore, hostAfter)
	}
}

func TestOCINamespaceIPC(t *testing.T) {
	e := newEnv(t)
	hostIPC, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Fatal(err)
	}
	inside := strings.TrimSpace(e.runSh(`readlink /proc/self/ns/ipc`, nil))
	if !strings.HasPrefix(inside, "ipc:[") || inside == hostIPC {
		t.Errorf("container ipc namespace %q, want a new one (host %s)", inside, hostIPC)
	}
	inside = strings.TrimSpace(e.runSh(`readlink /proc/self/ns/ipc`, func(s *specs.Spec) { ociWithoutNS(s, specs.IPCNamespace) }))
	if inside != hostIPC {
		t.Errorf("without an ipc namespace the container has %s, want the host's %s", inside, hostIPC)
	}
}

func TestOCINamespaceCgroup(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`cat /proc/self/cgroup`, nil)
	for _, l := range ociLines(out) {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("in a cgroup namespace %q should end in :/", l)
		}
	}
	// Without one the container sees its cgroup's full path, which has its id.
	b := e.bundle(func(s *specs.Spec) {
		ociWithoutNS(s, specs.CgroupNamespace)
		s.Process.Args = []string{"cat", "/proc/self/cgroup"}
	})
	id := e.id()
	out = e.pcr("run", "--bundle", b, id).ok(t).stdout
	if !strings.Contains(out, id) {
		t.Errorf("without a cgroup namespace /proc/self/cgroup does not name the container's cgroup %s:\n%s", id, out)
	}
}

// --- root and mounts ---

func TestOCIRootReadonly(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"touch", "/x"} })
	r := e.run(b)
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("touch / on a read-only root: exit %d, stderr %q", r.code, r.stderr)
	}
	e.runSh(`touch /x && test -f /x`, func(s *specs.Spec) { s.Root.Readonly = false })
}

func TestOCINoPivot(t *testing.T) {
	e := newEnv(t)
	// The test's own directory exists on every host and in no rootfs: if
	// the container sees it, it sees the host's tree.
	for _, flags := range [][]string{nil, {"--no-pivot"}} {
		b := e.bundle(func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", `ls /; test -e "$1" && echo HOST-VISIBLE; true`, "sh", e.dir}
		})
		args := append([]string{"run"}, flags...)
		out := e.pcr(append(args, "--bundle", b, e.id())...).ok(t).stdout
		if !strings.Contains(out, "bin") || strings.Contains(out, "HOST-VISIBLE") {
			t.Errorf("run %v: / shows %q, want the rootfs only", flags, out)
		}
	}
}

func TestOCIRootfsPropagation(t *testing.T) {
	e := newEnv(t)
	// The bundles sit on a shared mount, as on a systemd host: the modes
	// that leave it shared (slave, private: not recursive) are the ones
	// where the rootfs could join the host's peer group.
	shared := sharedTmpfs(t, e)
	// A slave of a private host mount is private, so slave only promises
	// that / is not shared.
	for _, mode := range []string{"shared", "rshared", "slave", "private", "rprivate"} {
		b := e.bundle(func(s *specs.Spec) {
			s.Process.Args = []string{"cat", "/proc/self/mountinfo"}
			s.Linux.RootfsPropagation = mode
		})
		out := e.pcr("run", "--bundle", copyBundle(t, b, shared), e.id()).ok(t).stdout
		m := ociFindMount(t, out, "/")
		shared := strings.Contains(m.optional, "shared:")
		switch {
		case strings.HasSuffix(mode, "shared") && !shared,
			strings.HasSuffix(mode, "slave") && shared,
			strings.HasSuffix(mode, "private") && m.optional != "":
			t.Errorf("rootfsPropagation %s: / has optional fields %q", mode, m.optional)
		}
	}
	// A create that fails after its mounts, just before pivot_root, leaves
	// none of them on the host either (sharedTmpfs's cleanup checks).
	b := e.bundle(func(s *specs.Spec) {
		s.Linux.RootfsPropagation = "slave"
		s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/false"}}}
	})
	e.pcr("run", "--bundle", copyBundle(t, b, shared), e.id()).fails(t, "createContainer")
}

func TestOCIMountsDefault(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`cat /proc/self/mountinfo; ls /sys/fs/cgroup >&2`, nil)
	for point, fstype := range map[string]string{
		"/proc": "proc", "/sys": "sysfs", "/dev": "tmpfs", "/dev/pts": "devpts",
		"/dev/shm": "tmpfs", "/dev/mqueue": "mqueue",
	} {
		if m := ociFindMount(t, out, point); m.fstype != fstype {
			t.Errorf("%s is %s, want %s", point, m.fstype, fstype)
		}
	}
	if m := ociFindMount(t, out, "/sys"); !m.hasOpt("ro") || !m.hasOpt("nosuid") || !m.hasOpt("nodev") || !m.hasOpt("noexec") {
		t.Errorf("/sys options %s, want ro,nosuid,nodev,noexec", m.opts)
	}
	if m := ociFindMount(t, out, "/dev/pts"); !strings.Contains(m.superOpts, "ptmxmode=666") || !strings.Contains(m.superOpts, "gid=5") {
		t.Errorf("/dev/pts options %s, want ptmxmode=666 and gid=5", m.superOpts)
	}
	if m := ociFindMount(t, out, "/dev/shm"); !strings.Contains(m.superOpts, "size=65536k") || !m.hasOpt("noexec") {
		t.Errorf("/dev/shm options %s %s, want size=65536k and noexec", m.opts, m.superOpts)
	}
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `touch /sys/x; touch /sys/fs/cgroup/x`}
	})
	r := e.run(b)
	if strings.Count(r.stderr, "Read-only file system") != 2 {
		t.Errorf("writes to /sys and /sys/fs/cgroup: %q, want two Read-only file system errors", r.stderr)
	}
}

func TestOCIMountCgroup(t *testing.T) {
	e := newEnv(t)
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	v2 := err == nil
	out := e.runSh(`ls /sys/fs/cgroup; cat /proc/self/mountinfo`, nil)
	if v2 {
		if !strings.Contains(out, "cgroup.controllers") {
			t.Errorf("cgroup v2 mount lacks cgroup.controllers:\n%s", out)
		}
		if m := ociFindMount(t, out, "/sys/fs/cgroup"); m.fstype != "cgroup2" || !m.hasOpt("ro") {
			t.Errorf("/sys/fs/cgroup is %s %s, want cgroup2 ro", m.fstype, m.opts)
		}
		return
	}
	for _, ctl := range []string{"memory", "pids", "devices", "freezer"} {
		if !strings.Contains(out, ctl+"\n") {
			t.Errorf("cgroup v1 mount lacks the %s controller:\n%s", ctl, out)
		}
		if m := ociFindMount(t, out, "/sys/fs/cgroup/"+ctl); m.fstype != "cgroup" || !m.hasOpt("ro") {
			t.Errorf("/sys/fs/cgroup/%s is %s %s, want cgroup ro", ctl, m.fstype, m.opts)
		}
	}
	// Inside its cgroup namespace the container's own cgroup is the root:
	// the pids controller has no child cgroups of other containers.
	out = e.runSh(`ls -d /sys/fs/cgroup/pids/*/ 2>/dev/null | wc -l`, nil)
	if strings.TrimSpace(out) != "0" {
		t.Errorf("the container sees %s cgroups below its own pids cgroup", strings.TrimSpace(out))
	}
}

func TestOCIMountTmpfsOptions(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`stat -c %a /scratch; cat /proc/self/mountinfo; df -k /scratch | tail -1`, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"size=2m", "mode=1750", "nosuid", "nodev", "noexec"}})
	})
	if l := ociLines(out); l[0] != "1750" {
		t.Errorf("/scratch mode %s, want 1750", l[0])
	}
	m := ociFindMount(t, out, "/scratch")
	if !strings.Contains(m.superOpts, "size=2048k") || !strings.Contains(m.superOpts, "mode=1750") {
		t.Errorf("/scratch options %s, want size=2048k,mode=1750", m.superOpts)
	}
	for _, o := range []string{"nosuid", "nodev", "noexec", "rw"} {
		if !m.hasOpt(o) {
			t.Errorf("/scratch options %s lack %s", m.opts, o)
		}
	}
	if f := strings.Fields(ociLines(out)[len(ociLines(out))-1]); len(f) < 2 || f[1] != "2048" {
		t.Errorf("df /scratch: %v, want 2048 blocks", f)
	}
}

// hostDir makes a host directory with a file in it for bind tests.
func (e *env) ociHostDir(name, content string) string {
	e.t.Helper()
	d := filepath.Join(e.dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "file"), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func TestOCIMountBindReadonly(t *testing.T) {
	e := newEnv(t)
	src := e.ociHostDir("data", "hello from host")
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `cat /data/file; echo; touch /data/new`}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
	})
	r := e.run(b)
	if !strings.HasPrefix(r.stdout, "hello from host") {
		t.Errorf("bind mount content %q", r.stdout)
	}
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("write to a ro bind: exit %d %q, want Read-only file system", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(src, "new")); err == nil {
		t.Errorf("the container wrote through a ro bind")
	}
	// A rw bind writes through to the host.
	e.runSh(`echo written > /data/new`, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"bind", "rw"}})
	})
	if got, _ := os.ReadFile(filepath.Join(src, "new")); string(got) != "written\n" {
		t.Errorf("host sees %q after a write through a rw bind", got)
	}
}

func TestOCIMountBindVsRbind(t *testing.T) {
	e := newEnv(t)
	src := e.ociHostDir("tree", "top")
	sub := filepath.Join(src, "sub")
	os.Mkdir(sub, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "pcrsub", sub).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v %s", sub, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", sub).Run() })
	os.WriteFile(filepath.Join(sub, "inner"), []byte("inner"), 0o644)
	for opt, want := range map[string]string{"rbind": "inner", "bind": "empty"} {
		out := e.runSh(`cat /t/sub/inner 2>/dev/null || echo empty`, func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/t", Type: "bind", Source: src, Options: []string{opt}})
		})
		if strings.TrimSpace(out) != want {
			t.Errorf("%s: /t/sub/inner = %q, want %q", opt, strings.TrimSpace(out), want)
		}
	}
}

func TestOCIMountBindFlags(t *testing.T) {
	e := newEnv(t)
	src := e.ociHostDir("flags", "x")
	out := e.runSh(`cat /proc/self/mountinfo`, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/f", Type: "bind", Source: src, Options: []string{"bind", "nosuid", "nodev", "noexec"}},
			specs.Mount{Destination: "/plain", Type: "bind", Source: src, Options: []string{"bind"}})
	})
	m := ociFindMount(t, out, "/f")
	for _, o := range []string{"nosuid", "nodev", "noexec"} {
		if !m.hasOpt(o) {
			t.Errorf("/f options %s lack %s", m.opts, o)
		}
	}
	// The same source without flags keeps exec, so the flags above came from
	// the spec and not from the host mount.
	if m := ociFindMount(t, out, "/plain"); m.hasOpt("noexec") {
		t.Skipf("host temp dir is noexec already (%s): cannot tell", m.opts)
	}
	script := filepath.Join(src, "run.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho ran\n"), 0o755)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `/plain/run.sh && /f/run.sh`}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/f", Type: "bind", Source: src, Options: []string{"bind", "noexec"}},
			specs.Mount{Destination: "/plain", Type: "bind", Source: src, Options: []string{"bind"}})
	})
	r := e.run(b)
	if r.stdout != "ran\n" || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("exec from plain then noexec bind: stdout %q stderr %q", r.stdout, r.stderr)
	}
}

func TestOCIMountBindPropagation(t *testing.T) {
	e := newEnv(t)
	src := e.ociHostDir("prop", "x")
	out := e.runSh(`cat /proc/self/mountinfo`, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/sh", Type: "bind", Source: src, Options: []string{"rbind", "rshared"}},
			specs.Mount{Destination: "/pr", Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}})
	})
	if m := ociFindMount(t, out, "/sh"); !strings.Contains(m.optional, "shared:") {
		t.Errorf("rshared bind has %q, want shared:N", m.optional)
	}
	if m := ociFindMount(t, out, "/pr"); m.optional != "" {
		t.Errorf("rprivate bind has %q, want none", m.optional)
	}
}

func TestOCIMountBindRelativeAndFile(t *testing.T) {
	e := newEnv(t)
	hostFile := filepath.Join(e.dir, "single")
	os.WriteFile(hostFile, []byte("one file\n"), 0o644)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `cat /rel/file; echo; cat /etc/single; test -f /etc/single && echo regular`}
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/rel", Type: "bind", Source: "reldata", Options: []string{"bind", "ro"}},
			specs.Mount{Destination: "/etc/single", Type: "bind", Source: hostFile, Options: []string{"bind", "ro"}})
	})
	if err := os.Mkdir(filepath.Join(b, "reldata"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(b, "reldata", "file"), []byte("relative"), 0o644)
	out := e.run(b).ok(t).stdout
	if want := "relative\none file\nregular\n"; out != want {
		t.Errorf("relative dir and single file binds: %q, want %q", out, want)
	}
}

// --- /dev ---

func TestOCIDevDefaults(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; `+
		`for l in fd stdin stdout stderr ptmx; do echo /dev/$l $(readlink /dev/$l); done; echo x > /dev/null && head -c 3 /dev/zero | wc -c`, nil)
	want := []string{
		"/dev/null character special file 1:3 666",
		"/dev/zero character special file 1:5 666",
		"/dev/full character special file 1:7 666",
		"/dev/random character special file 1:8 666",
		"/dev/urandom character special file 1:9 666",
		"/dev/tty character special file 5:0 666",
		"/dev/fd /proc/self/fd",
		"/dev/stdin /proc/self/fd/0",
		"/dev/stdout /proc/self/fd/1",
		"/dev/stderr /proc/self/fd/2",
		"/dev/ptmx pts/ptmx",
		"3",
	}
	if got := ociLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("/dev:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestOCIDevSpecDevices(t *testing.T) {
	e := newEnv(t)
	mode := os.FileMode(0o600)
	uid, gid := uint32(1000), uint32(1001)
	// uid 1000 owns /dev/mynull and may write it; the device cgroup must
	// allow the spec's devices too.
	out := e.runSh(`stat -c '%F %t:%T %a %u:%g' /dev/mynull /dev/sub/myzero; echo data > /dev/mynull && head -c 4 /dev/sub/myzero | wc -c`, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		s.Linux.Devices = append(s.Linux.Devices,
			specs.LinuxDevice{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid},
			specs.LinuxDevice{Path: "/dev/sub/myzero", Type: "c", Major: 1, Minor: 5})
	})
	want := "character special file 1:3 600 1000:1001\ncharacter special file 1:5 666 0:0\n4"
	if strings.TrimSpace(out) != want {
		t.Errorf("spec devices:\n%s\nwant:\n%s", strings.TrimSpace(out), want)
	}
}

func TestOCIMaskedPaths(t *testing.T) {
	e := newEnv(t)
	script := `for f in /proc/kcore /proc/timer_list /proc/keys /secret; do cat $f 2>/dev/null | wc -c; done; ` +
		`for d in /sys/firmware /private /visible; do ls -A $d | wc -l; done`
	masked := func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/secret", "/private", "/does/not/exist")
	}
	fill := func(b string) {
		for _, d := range []string{"private", "visible"} {
			os.MkdirAll(filepath.Join(b, "rootfs", d), 0o755)
			os.WriteFile(filepath.Join(b, "rootfs", d, "f"), []byte("x"), 0o644)
		}
		os.WriteFile(filepath.Join(b, "rootfs", "secret"), []byte("password"), 0o644)
	}
	b := e.bundle(masked)
	fill(b)
	got := strings.Fields(e.run(b).ok(t).stdout)
	if want := "0 0 0 0 0 0 1"; strings.Join(got, " ") != want {
		t.Errorf("sizes of kcore, timer_list, keys, /secret; entries in /sys/firmware, /private, /visible: %v, want %s", got, want)
	}
	// Unmasked, timer_list and /secret have content: the zeros above come
	// from the masks.
	b = e.bundle(func(s *specs.Spec) {
		masked(s)
		s.Linux.MaskedPaths = nil
	})
	fill(b)
	got = strings.Fields(e.run(b).ok(t).stdout)
	if len(got) != 7 || got[1] == "0" || got[3] != "8" || got[5] != "1" {
		t.Errorf("without maskedPaths: %v, want timer_list, /secret and /private to have content", got)
	}
}

func TestOCIReadonlyPathsAndSysctl(t *testing.T) {
	e := newEnv(t)
	script := `cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; echo 0 > /proc/sys/net/ipv4/ip_forward && echo written`
	sysctl := func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}
		ociCaps(s, "CAP_SYS_ADMIN", "CAP_NET_ADMIN")
	}
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		sysctl(s)
	})
	r := e.run(b)
	if r.stdout != "1\n123456789\n" || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("sysctls with /proc/sys read-only: stdout %q stderr %q", r.stdout, r.stderr)
	}
	// Without readonlyPaths the same write works: the error above came from
	// the read-only bind, not from a missing privilege.
	out := e.runSh(script, func(s *specs.Spec) {
		sysctl(s)
		s.Linux.ReadonlyPaths = nil
	})
	if out != "1\n123456789\nwritten\n" {
		t.Errorf("sysctls with /proc/sys writable: %q", out)
	}
	if host, _ := os.ReadFile("/proc/sys/kernel/shmmax"); strings.TrimSpace(string(host)) == "123456789" {
		t.Errorf("kernel.shmmax reached the host's ipc namespace")
	}
}

func TestOCIHostnameDomainname(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`hostname; cat /proc/sys/kernel/domainname`, func(s *specs.Spec) {
		s.Hostname = "box-" + e.tag
		s.Domainname = "example.test"
	})
	if want := "box-" + e.tag + "\nexample.test\n"; out != want {
		t.Errorf("hostname and domainname %q, want %q", out, want)
	}
}

// --- process ---

func TestOCIProcessArgsEnvCwd(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `echo "$0|$1|$FOO|$HOME|$(pwd)"`, "zero", "one two"}
		s.Process.Env = append(s.Process.Env, "FOO=bar baz")
		s.Process.Cwd = "/etc"
	})
	if out := e.run(b).ok(t).stdout; out != "zero|one two|bar baz|/root|/etc\n" {
		t.Errorf("args, env, HOME, cwd: %q", out)
	}
	// HOME comes from the container's /etc/passwd for the process's uid,
	// and an explicit HOME wins.
	out := e.runSh(`echo $HOME`, func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} })
	if out != "/home/pcr\n" {
		t.Errorf("HOME for uid 1000 = %q, want /home/pcr", out)
	}
	out = e.runSh(`echo $HOME`, func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "HOME=/mine") })
	if out != "/mine\n" {
		t.Errorf("explicit HOME = %q, want /mine", out)
	}
}

func TestOCIProcessUser(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`id -u; id -g; id -G | tr ' ' '\n' | sort -n | tr '\n' ' '`, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1001, 2000}}
	})
	if want := "1000\n1000\n1000 1001 2000 "; out != want {
		t.Errorf("id: %q, want %q", out, want)
	}
	// No additionalGids: the host's supplementary groups must not leak in.
	out = e.runSh(`id -G`, func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} })
	if out != "1000\n" {
		t.Errorf("id -G without additionalGids: %q, want 1000", out)
	}
}

func TestOCIProcessUmask(t *testing.T) {
	e := newEnv(t)
	for umask, want := range map[uint32]string{0o077: "-rw-------", 0o022: "-rw-r--r--"} {
		u := umask
		out := e.runSh(`touch /tmp/f && ls -l /tmp/f | cut -c1-10`, func(s *specs.Spec) {
			s.Root.Readonly = false
			s.Process.User.Umask = &u
		})
		if strings.TrimSpace(out) != want {
			t.Errorf("umask %04o: new file is %q, want %s", umask, strings.TrimSpace(out), want)
		}
	}
}

func TestOCIProcessCapabilities(t *testing.T) {
	e := newEnv(t)
	script := `grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status`
	check := func(name, status string, want map[string]uint64) {
		t.Helper()
		for field, w := range want {
			got, err := strconv.ParseUint(ociStatusField(t, status, field), 16, 64)
			if err != nil || got != w {
				t.Errorf("%s: %s = %x, want %x", name, field, got, w)
			}
		}
	}
	out := e.runSh(script, func(s *specs.Spec) { ociCaps(s, "CAP_NET_RAW", "CAP_CHOWN") })
	two := ociCapMask(capNetRaw, capChown)
	check("root with NET_RAW+CHOWN", out, map[string]uint64{"CapBnd": two, "CapEff": two, "CapPrm": two, "CapInh": 0, "CapAmb": 0})

	// A smaller effective set than permitted survives for root only until
	// exec: root's exec makes effective = permitted, so a non-root user with
	// ambient caps is the case where each set is visible.
	nbs := []string{"CAP_NET_BIND_SERVICE"}
	out = e.runSh(script, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"},
			Effective: nbs, Permitted: nbs, Inheritable: nbs, Ambient: nbs,
		}
	})
	one := ociCapMask(capNetBindService)
	check("uid 1000 with ambient NET_BIND_SERVICE", out, map[string]uint64{
		"CapBnd": ociCapMask(capNetBindService, capKill), "CapEff": one, "CapPrm": one, "CapInh": one, "CapAmb": one})

	// A non-root user without ambient caps has nothing after exec.
	out = e.runSh(script, func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		ociCaps(s, "CAP_NET_BIND_SERVICE")
	})
	check("uid 1000 without ambient", out, map[string]uint64{"CapEff": 0, "CapPrm": 0, "CapAmb": 0, "CapBnd": one})

	// The capability is effective: chown works with CAP_CHOWN only.
	e.runSh(`chown 1000 /tmp && test "$(stat -c %u /tmp)" = 1000`, func(s *specs.Spec) {
		s.Root.Readonly = false
		ociCaps(s, "CAP_CHOWN")
	})
	b := e.bundle(func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Args = []string{"chown", "1000", "/tmp"}
		ociCaps(s, "CAP_KILL")
	})
	if r := e.run(b); r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("chown without CAP_CHOWN: exit %d %q", r.code, r.stderr)
	}
}

func TestOCIProcessRlimits(t *testing.T) {
	e := newEnv(t)
	out := e.runSh(`ulimit -S -n; ulimit -H -n`, func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024}}
	})
	if out != "512\n1024\n" {
		t.Errorf("ulimit -n soft/hard = %q, want 512 and 1024", out)
	}
	var hard struct{ cur, max uint64 }
	data, _ := os.ReadFile("/proc/self/limits")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "Max open files") {
			f := strings.Fields(l)
			hard.max, _ = strconv.ParseUint(f[4], 10, 64)
		}
	}
	if hard.max == 0 {
		t.Fatalf("no hard NOFILE limit in /proc/self/limits")
	}
	caps, _ := os.ReadFile("/proc/self/status")
	bnd, _ := strconv.ParseUint(ociStatusField(t, string(caps), "CapBnd"), 16, 64)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: hard.max + 1}}
	})
	r := e.run(b)
	if bnd&(1<<24) != 0 {
		// CAP_SYS_RESOURCE is there: raising works.
		r.ok(t)
		return
	}
	r.fails(t, "CAP_SYS_RESOURCE")
	b = e.bundle(func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1}}
	})
	e.run(b).fails(t, "RLIMIT_BOGUS")
}

func TestOCIProcessNoNewPrivileges(t *testing.T) {
	e := newEnv(t)
	for nnp, want := range map[bool]string{true: "1", false: "0"} {
		out := e.runSh(`cat /proc/self/status`, func(s *specs.Spec) { s.Process.NoNewPrivileges = nnp })
		if got := ociStatusField(t, out, "NoNewPrivs"); got != want {
			t.Errorf("noNewPrivileges %v: NoNewPrivs %s", nnp, got)
		}
	}
}

func TestOCIProcessOOMScoreAdj(t *testing.T) {
	e := newEnv(t)
	v := 500
	out := e.runSh(`cat /proc/self/oom_score_adj`, func(s *specs.Spec) { s.Process.OOMScoreAdj = &v })
	if out != "500\n" {
		t.Errorf("oom_score_adj = %q, want 500", out)
	}
	// Lowering below the caller's needs CAP_SYS_RESOURCE; ask the host
	// whether a fresh child of this test may do it, and expect the same.
	own, _ := os.ReadFile("/proc/self/oom_score_adj")
	cur, _ := strconv.Atoi(strings.TrimSpace(string(own)))
	if cur <= -1000 {
		t.Skipf("test process already at oom_score_adj %d", cur)
	}
	low := cur - 100
	if low < -1000 {
		low = -1000
	}
	hostErr := exec.Command(filepath.Join(fixtures, "busybox", "rootfs", "bin", "busybox"), "sh", "-c",
		"echo "+strconv.Itoa(low)+" > /proc/self/oom_score_adj").Run()
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"cat", "/proc/self/oom_score_adj"}
		s.Process.OOMScoreAdj = &low
	})
	r := e.run(b)
	if hostErr == nil {
		if r.ok(t).stdout != strconv.Itoa(low)+"\n" {
			t.Errorf("oom_score_adj = %q, want %d", r.stdout, low)
		}
		return
	}
	r.fails(t, "CAP_SYS_RESOURCE")
}

func TestOCIProcessLSM(t *testing.T) {
	e := newEnv(t)
	if b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && strings.HasPrefix(string(b), "Y") {
		t.Skip("AppArmor is enabled on this host")
	}
	b := e.bundle(func(s *specs.Spec) { s.Process.ApparmorProfile = "pcr-test-profile" })
	e.run(b).fails(t, "AppArmor")
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		return
	}
	b = e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"echo", "ran"}
		s.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
	})
	r := e.run(b).ok(t)
	if r.stdout != "ran\n" || !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "SELinux") {
		t.Errorf("selinuxLabel without SELinux: stdout %q stderr %q, want a warning and a run", r.stdout, r.stderr)
	}
}

// --- seccomp ---

func TestOCISeccompErrno(t *testing.T) {
	e := newEnv(t)
	eperm := uint(1)
	for _, nnp := range []bool{true, false} {
		b := e.bundle(func(s *specs.Spec) {
			s.Root.Readonly = false
			s.Process.NoNewPrivileges = nnp
			s.Process.Args = []string{"sh", "-c", `touch /tmp/file && echo touched; mkdir /tmp/x`}
			s.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchAARCH64},
				Syscalls: []specs.LinuxSyscall{{
					Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &eperm,
				}},
			}
		})
		r := e.run(b)
		if r.stdout != "touched\n" || r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("noNewPrivileges=%v: mkdir under seccomp: exit %d stdout %q stderr %q", nnp, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(b, "rootfs", "tmp", "x")); err == nil {
			t.Errorf("noNewPrivileges=%v: mkdir went through", nnp)
		}
	}
}

func TestOCISeccompArgs(t *testing.T) {
	e := newEnv(t)
	// kill(pid, SIGKILL) is refused; kill with any other signal works.
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `sleep 5 & p=$!; kill -9 $p || echo refused; kill -15 $p && wait $p; echo status $?`}
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{
				Names: []string{"kill"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpEqualTo}},
			}},
		}
	})
	r := e.run(b)
	if r.stdout != "refused\nstatus 143\n" {
		t.Errorf("kill -9 refused, kill -15 works: stdout %q stderr %q", r.stdout, r.stderr)
	}
	// An action that kills the process: the shell dies by SIGSYS.
	b = e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `echo before; mkdir /tmp/y; echo after $?`}
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKillProcess}},
		}
	})
	r = e.run(b)
	if r.stdout != "before\nafter 159\n" {
		t.Errorf("SCMP_ACT_KILL_PROCESS on mkdir: stdout %q, want mkdir killed by SIGSYS (159)", r.stdout)
	}
}

// --- user namespaces and joining namespaces by path ---

// ociUserNS maps container 0-65535 to host 100000-165535 and chowns the
// rootfs to match, as a user-namespaced image would be.
func ociUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func (e *env) ociChownRootfs(bundle string) {
	e.t.Helper()
	if out, err := exec.Command("chown", "-R", "100000:100000", filepath.Join(bundle, "rootfs")).CombinedOutput(); err != nil {
		e.t.Fatalf("chown rootfs: %v: %s", err, out)
	}
	// The namespace's root is uid 100000 on the host: it must be able to
	// reach the rootfs through the test's 0700 temp dirs.
	for d := bundle; d != "/" && d != filepath.Dir(e.dir); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	os.Chmod(filepath.Dir(e.dir), 0o755)
}

func TestOCIUserNamespace(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		ociUserNS(s)
		s.Process.Args = []string{"sh", "-c", `id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u /bin/busybox; ls /sys/class/net`}
	})
	e.ociChownRootfs(b)
	id, pid, stdout := e.ociCreate(b)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if uid := strings.Fields(ociStatusField(t, string(status), "Uid")); uid[0] != "100000" || uid[1] != "100000" {
		t.Errorf("host sees the container's root as uid %v, want 100000", uid)
	}
	if gid := strings.Fields(ociStatusField(t, string(status), "Gid")); gid[0] != "100000" {
		t.Errorf("host sees the container's root as gid %v, want 100000", gid)
	}
	e.pcr("start", id).ok(t)
	e.ociWaitStopped(id)
	out, _ := os.ReadFile(stdout)
	got := strings.Fields(string(out))
	want := "0 0 0 100000 65536 0 100000 65536 0 lo"
	if strings.Join(got, " ") != want {
		t.Errorf("inside a user namespace: %q, want %q", strings.Join(got, " "), want)
	}
	e.pcr("delete", id).ok(t)
}

func TestOCIJoinNamespaces(t *testing.T) {
	e := newEnv(t)
	_, hpid := e.ociHolder(func(s *specs.Spec) { s.Hostname = "holder-" + e.tag })
	ns := func(n string) string { return fmt.Sprintf("/proc/%d/ns/%s", hpid, n) }
	want := map[string]string{}
	for _, n := range []string{"net", "uts", "ipc", "pid", "cgroup"} {
		l, err := os.Readlink(ns(n))
		if err != nil {
			t.Fatal(err)
		}
		want[n] = l
	}
	out := e.runSh(`hostname; for n in net uts ipc pid_for_children cgroup; do readlink /proc/self/ns/$n; done; echo $$; ps -o pid,comm`, func(s *specs.Spec) {
		s.Hostname = ""
		ociSetNS(s, specs.NetworkNamespace, ns("net"))
		ociSetNS(s, specs.UTSNamespace, ns("uts"))
		ociSetNS(s, specs.IPCNamespace, ns("ipc"))
		ociSetNS(s, specs.PIDNamespace, ns("pid"))
		// On cgroup v2 with nsdelegate the kernel refuses to clone into
		// a cgroup from inside a joined cgroup namespace.
		ociSetNS(s, specs.CgroupNamespace, ns("cgroup"))
	})
	l := ociLines(out)
	if len(l) < 7 {
		t.Fatalf("joiner printed %q", out)
	}
	if l[0] != "holder-"+e.tag {
		t.Errorf("joined uts namespace has hostname %q, want the holder's", l[0])
	}
	for i, n := range []string{"net", "uts", "ipc", "pid", "cgroup"} {
		if l[1+i] != want[n] {
			t.Errorf("joined %s namespace %s, want the holder's %s", n, l[1+i], want[n])
		}
	}
	if l[6] == "1" {
		t.Errorf("a process joining the holder's pid namespace is pid 1")
	}
	if !strings.Contains(out, " 1 sleep") {
		t.Errorf("ps in the joined pid namespace does not show the holder's sleep as pid 1:\n%s", out)
	}
}

func TestOCIJoinUserNamespace(t *testing.T) {
	e := newEnv(t)
	hb := e.bundle(func(s *specs.Spec) {
		ociUserNS(s)
		s.Process.Args = []string{"sleep", "60"}
	})
	e.ociChownRootfs(hb)
	hid, hpid, _ := e.ociCreate(hb)
	e.pcr("start", hid).ok(t)
	hostUser, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", hpid))
	b := e.bundle(func(s *specs.Spec) {
		// Mappings belong to the joined namespace: the joiner has none.
		ociSetNS(s, specs.UserNamespace, fmt.Sprintf("/proc/%d/ns/user", hpid))
		s.Process.Args = []string{"sh", "-c", `readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map; echo $$`}
	})
	e.ociChownRootfs(b)
	out := e.run(b).ok(t).stdout
	got := strings.Fields(out)
	if want := hostUser + " 0 0 100000 65536 1"; strings.Join(got, " ") != want {
		t.Errorf("joined user namespace: %q, want %q", strings.Join(got, " "), want)
	}
}
