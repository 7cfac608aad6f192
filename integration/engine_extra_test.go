package integration

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// noMountsUnder fails the test if something is mounted below dir.
func (e *engineEnv) noMountsUnder(what, dir string) {
	e.t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, dir) {
			e.t.Fatalf("%s left a mount: %s", what, l)
		}
	}
}

// TestEngineExtraStatsTop: stats shows a running container with its -m
// limit; top lists its process from /proc.
func TestEngineExtraStatsTop(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("run", "-d", "-m", "64m", "--name", "st", "busybox", "sleep", "100").ok(t)

	out := e.pcr("stats", "--no-stream", "st").ok(t).stdout
	if !strings.Contains(out, "MEM USAGE / LIMIT") || !strings.Contains(out, " st ") || !strings.Contains(out, "/ 64MiB") {
		t.Fatalf("stats --no-stream:\n%s", out)
	}
	var row map[string]string
	js := e.pcr("stats", "--no-stream", "--format", "json").ok(t).stdout
	if err := json.Unmarshal([]byte(js), &row); err != nil {
		t.Fatalf("stats --format json: %v\n%s", err, js)
	}
	if row["Name"] != "st" || !strings.HasSuffix(row["MemUsage"], " / 64MiB") || row["PIDs"] != "1" || !strings.HasSuffix(row["CPUPerc"], "%") {
		t.Fatalf("stats json row %v", row)
	}

	top := e.pcr("top", "st").ok(t).stdout
	lines := strings.Split(strings.TrimSpace(top), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "UID") || !strings.Contains(lines[0], "CMD") || !strings.HasSuffix(lines[1], "sleep 100") {
		t.Fatalf("top:\n%s", top)
	}
	if f := strings.Fields(lines[1]); f[0] != "root" {
		t.Fatalf("top: process owner %q, want root", f[0])
	}
	e.pcr("top", "st", "aux").fails(t, "unsupported ps option")
	e.pcr("stats", "--no-stream", "nosuch").fails(t, "no such container: nosuch")
	e.pcr("top", "nosuch").fails(t, "no such container: nosuch")

	e.pcr("kill", "st").ok(t)
	e.pcr("wait", "st").ok(t)
	e.pcr("top", "st").fails(t, "is not running")
	if out := e.pcr("stats", "--no-stream", "st").ok(t).stdout; !strings.Contains(out, "--") {
		t.Fatalf("stats of a stopped container:\n%s", out)
	}
}

// TestEngineExtraCopy: cp both ways on a running and a stopped container,
// directories included, and symlinks in the container (absolute, or
// climbing with ..) never lead to the host's files.
func TestEngineExtraCopy(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("run", "-d", "--name", "cp1", "busybox", "sleep", "100").ok(t)
	e.pcr("exec", "cp1", "sh", "-c", "ln -s /etc /abs-etc && ln -s ../../../../../../etc /rel-etc && echo inside > /hello").ok(t)
	ctrPasswd := e.pcr("exec", "cp1", "cat", "/etc/passwd").ok(t).stdout
	hostPasswd, _ := os.ReadFile("/etc/passwd")
	if ctrPasswd == string(hostPasswd) {
		t.Fatal("the container's /etc/passwd equals the host's: the escape checks below would prove nothing")
	}

	host := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(host, "tree", "a"), 0o755))
	must(os.WriteFile(filepath.Join(host, "tree", "a", "b"), []byte("bee\n"), 0o640))
	must(os.WriteFile(filepath.Join(host, "in.txt"), []byte("in\n"), 0o644))

	// Host to running container: a file into a dir, a tree to a new name.
	e.pcr("cp", filepath.Join(host, "in.txt"), "cp1:/tmp/").ok(t)
	e.pcr("cp", filepath.Join(host, "tree"), "cp1:/copied").ok(t)
	if got := e.pcr("exec", "cp1", "cat", "/tmp/in.txt", "/copied/a/b").ok(t).stdout; got != "in\nbee\n" {
		t.Fatalf("files copied in read %q", got)
	}
	// Running container to host.
	e.pcr("cp", "cp1:/hello", filepath.Join(host, "hello")).ok(t)
	e.pcr("cp", "cp1:/copied", filepath.Join(host, "back")).ok(t)
	for p, want := range map[string]string{"hello": "inside\n", "back/a/b": "bee\n"} {
		if data, err := os.ReadFile(filepath.Join(host, p)); err != nil || string(data) != want {
			t.Fatalf("%s copied out: %q %v, want %q", p, data, err, want)
		}
	}
	// A tar stream out.
	cmd := e.command("cp", "cp1:/copied", "-")
	tarOut, err := cmd.Output()
	must(err)
	var names []string
	tr := tar.NewReader(strings.NewReader(string(tarOut)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		names = append(names, h.Name)
	}
	if strings.Join(names, " ") != "copied/ copied/a/ copied/a/b" {
		t.Fatalf("cp CTR:/copied - gave entries %v", names)
	}

	// Through the container's symlinks to /etc: the container's files.
	for _, link := range []string{"abs-etc", "rel-etc"} {
		out := filepath.Join(host, link+"-passwd")
		e.pcr("cp", "cp1:/"+link+"/passwd", out).ok(t)
		if data, _ := os.ReadFile(out); string(data) != ctrPasswd {
			t.Fatalf("cp cp1:/%s/passwd read %q, want the container's /etc/passwd", link, data)
		}
		name := fmt.Sprintf("pcr-cp-escape-%d", rand.Int63())
		must(os.WriteFile(filepath.Join(host, name), []byte("escape\n"), 0o644))
		r := e.pcr("cp", filepath.Join(host, name), "cp1:/"+link+"/")
		if _, err := os.Lstat(filepath.Join("/etc", name)); err == nil {
			os.Remove(filepath.Join("/etc", name))
			t.Fatalf("cp through /%s wrote the host's /etc/%s", link, name)
		}
		r.ok(t)
		if got := e.pcr("exec", "cp1", "cat", "/etc/"+name).ok(t).stdout; got != "escape\n" {
			t.Fatalf("cp through /%s: the container's /etc/%s reads %q", link, name, got)
		}
	}

	// Stopped: the overlay is mounted for the copy and unmounted after.
	// stop returns once the run is cleaned up (kill and wait return earlier).
	e.pcr("stop", "-t", "0", "cp1").ok(t)
	ctrDir := filepath.Join(e.root, "containers")
	e.noMountsUnder("stop", ctrDir)
	must(os.WriteFile(filepath.Join(host, "later"), []byte("later\n"), 0o644))
	e.pcr("cp", filepath.Join(host, "later"), "cp1:/later").ok(t)
	e.noMountsUnder("cp into a stopped container", ctrDir)
	e.pcr("cp", "cp1:/copied/a/b", filepath.Join(host, "b-stopped")).ok(t)
	e.noMountsUnder("cp out of a stopped container", ctrDir)
	if data, _ := os.ReadFile(filepath.Join(host, "b-stopped")); string(data) != "bee\n" {
		t.Fatalf("copied out of a stopped container: %q", data)
	}
	e.pcr("cp", "cp1:/nothing", filepath.Join(host, "x")).fails(t, "no such file or directory")
	e.noMountsUnder("a failed cp", ctrDir)
	e.pcr("start", "cp1").ok(t)
	if got := e.pcr("exec", "cp1", "cat", "/later").ok(t).stdout; got != "later\n" {
		t.Fatalf("file copied while stopped reads %q after start", got)
	}

	e.pcr("cp", "nosuch:/x", host).fails(t, "no such container: nosuch")
	e.pcr("cp", filepath.Join(host, "in.txt"), filepath.Join(host, "y")).fails(t, "CONTAINER:PATH")
}

// TestEngineExtraRename: the new name finds the container, the old one is
// free, a taken name is refused.
func TestEngineExtraRename(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("create", "--name", "one", "busybox", "true").ok(t)
	e.pcr("create", "--name", "taken", "busybox", "true").ok(t)
	e.pcr("rename", "one", "two").ok(t)
	ps := e.pcr("ps", "-a", "--format", "json").ok(t).stdout
	if !strings.Contains(ps, `"Names":"two"`) || strings.Contains(ps, `"Names":"one"`) {
		t.Fatalf("ps -a after rename:\n%s", ps)
	}
	e.pcr("create", "--name", "one", "busybox", "true").ok(t)
	e.pcr("rename", "two", "taken").fails(t, "already in use")
	e.pcr("rename", "two", "no/slash").fails(t, "invalid container name")
	e.pcr("rename", "nosuch", "x").fails(t, "no such container: nosuch")
	if !strings.Contains(e.pcr("ps", "-a").ok(t).stdout, "two") {
		t.Fatal("a refused rename changed the name")
	}
}

// TestEngineExtraPrune: container prune removes exited and created
// containers and leaves running ones.
func TestEngineExtraPrune(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	running := strings.TrimSpace(e.pcr("run", "-d", "--name", "up", "busybox", "sleep", "100").ok(t).stdout)
	e.pcr("run", "--name", "done", "busybox", "true").ok(t)
	created := strings.TrimSpace(e.pcr("create", "--name", "new", "busybox", "true").ok(t).stdout)
	out := e.pcr("container", "prune", "-f").ok(t).stdout
	if !strings.Contains(out, "Deleted Containers:") || !strings.Contains(out, created) || strings.Contains(out, running) ||
		!regexp.MustCompile(`Total reclaimed space: [0-9.]+k?B`).MatchString(out) {
		t.Fatalf("container prune:\n%s", out)
	}
	ids := e.containerIDs()
	if len(ids) != 1 || ids[0] != running {
		t.Fatalf("after prune the containers are %v, want only %s", ids, running)
	}
	if out := e.pcr("container", "prune", "-f").ok(t).stdout; strings.TrimSpace(out) != "Total reclaimed space: 0B" {
		t.Fatalf("a second prune:\n%s", out)
	}
	e.pcr("create", "--name", "done", "busybox", "true").ok(t) // the name is free
}

// TestEngineExtraCommit: a committed container's file is in the new image
// and not in the original; the container's command can become CMD.
func TestEngineExtraCommit(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("run", "--name", "w", "-e", "GREETING=hi", "busybox", "sh", "-c", "echo committed > /hello").ok(t)
	id := strings.TrimSpace(e.pcr("commit", "-m", "add hello", "-a", "tester", "-c", `CMD ["cat", "/hello"]`, "w", "snap:1").ok(t).stdout)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("commit printed %q, want an image id", id)
	}
	if got := e.pcr("run", "--rm", "snap:1").ok(t).stdout; got != "committed\n" {
		t.Fatalf("the committed image's CMD printed %q", got)
	}
	if got := e.pcr("run", "--rm", "snap:1", "sh", "-c", "echo $GREETING").ok(t).stdout; got != "hi\n" {
		t.Fatalf("the committed image's environment: GREETING=%q, want hi", got)
	}
	if r := e.pcr("run", "--rm", "busybox", "cat", "/hello"); r.code == 0 {
		t.Fatalf("the original image sees /hello: %q", r.stdout)
	}
	hist := e.pcr("history", "snap:1").ok(t).stdout
	if !strings.Contains(hist, "add hello") {
		t.Fatalf("history lacks the commit message:\n%s", hist)
	}

	// A running container is paused for the diff and running after it.
	e.pcr("run", "-d", "--name", "r", "busybox", "sh", "-c", "echo x > /y; exec sleep 100").ok(t)
	e.pcr("exec", "r", "test", "-f", "/y").ok(t)
	e.pcr("commit", "r", "snap:2").ok(t)
	var st []struct{ State struct{ Status string } }
	if err := json.Unmarshal([]byte(e.pcr("inspect", "r").ok(t).stdout), &st); err != nil || len(st) != 1 || st[0].State.Status != "running" {
		t.Fatalf("after commit the container is %+v (%v), want running", st, err)
	}
	if got := e.pcr("run", "--rm", "snap:2", "cat", "/y").ok(t).stdout; got != "x\n" {
		t.Fatalf("committed running container: /y reads %q", got)
	}
	e.pcr("commit", "nosuch").fails(t, "no such container: nosuch")
	e.pcr("commit", "-c", "RUN true", "w").fails(t, "cannot be changed by commit")
	e.pcr("commit", "w", "Bad Name").fails(t, "invalid reference format")
}

// TestEngineExtraSystem: version needs no store or root; info and
// system df describe the engine and the host.
func TestEngineExtraSystem(t *testing.T) {
	e := newEngineEnv(t)
	nowhere := filepath.Join(e.dir, "never-made")
	cmd := exec.Command(pcrBin, "--root", nowhere, "--state", nowhere, "version")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pcr version as nobody: %v\n%s", err, out)
	}
	for _, want := range []string{"Version:", "Go version:", "OS/Arch:", "OCI runtime spec:"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("pcr version lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(nowhere); err == nil {
		t.Fatal("pcr version created the root")
	}

	e.importBusybox()
	e.pcr("create", "--name", "c1", "busybox", "true").ok(t)
	info := e.pcr("info").ok(t).stdout
	cgroupWant := "Cgroup Version: 2"
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		cgroupWant = "Cgroup Version: 1 (hybrid, cgroup2 at /sys/fs/cgroup/unified)"
	} else if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		cgroupWant = "Cgroup Version: 1"
	}
	for _, want := range []string{" Containers: 1\n", "  Stopped: 1\n", " Images: 1\n", "Storage Driver: overlay", cgroupWant + "\n",
		"Cgroup Driver: cgroupfs", "Root Dir: " + e.root, "Kernel Version: ", "seccomp"} {
		if !strings.Contains(info, want) {
			t.Fatalf("pcr info lacks %q:\n%s", want, info)
		}
	}
	var in struct {
		NCPU       int
		MemTotal   uint64
		Images     int
		Namespaces []string
	}
	if err := json.Unmarshal([]byte(e.pcr("info", "--format", "json").ok(t).stdout), &in); err != nil || in.NCPU < 1 || in.MemTotal == 0 || in.Images != 1 || len(in.Namespaces) < 6 {
		t.Fatalf("info --format json: %+v %v", in, err)
	}
	df := e.pcr("system", "df").ok(t).stdout
	for _, re := range []string{`(?m)^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$`, `(?m)^Images +1 +1 +[0-9.]+[kM]B `,
		`(?m)^Containers +1 +0 `, `(?m)^Local Volumes +0 +0 +0B +0B$`, `(?m)^Build Cache +`} {
		if !regexp.MustCompile(re).MatchString(df) {
			t.Fatalf("system df does not match %s:\n%s", re, df)
		}
	}
}

// TestEngineConcurrentStart: starts racing on one container all succeed,
// and the run they found started is the one that goes on: a start of a
// running container does nothing, as in Docker (before, a second start
// deleted the first run's live container and ran it again).
func TestEngineConcurrentStart(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	id := strings.TrimSpace(e.pcr("create", "busybox", "sh", "-c", "echo started; exec sleep 60").ok(t).stdout)
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = e.pcr("start", id) }()
	}
	wg.Wait()
	for _, r := range results {
		r.ok(t)
	}
	pid := func() int {
		var insp []struct{ State struct{ Pid int } }
		if err := json.Unmarshal([]byte(e.pcr("inspect", id).ok(t).stdout), &insp); err != nil || len(insp) != 1 {
			t.Fatalf("inspect: %v", err)
		}
		return insp[0].State.Pid
	}
	first := pid()
	e.pcr("start", id).ok(t)
	if got := pid(); got != first || first == 0 || e.status(id) != "running" {
		t.Fatalf("start of a running container changed its init %d -> %d (status %s)", first, got, e.status(id))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.pcr("logs", id).stdout, "started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if logs := e.pcr("logs", id).ok(t).stdout; strings.Count(logs, "started") != 1 {
		t.Fatalf("the container ran %d times: %q", strings.Count(logs, "started"), logs)
	}
	e.pcr("start", "-a", id).fails(t, "already running")
	e.pcr("rm", "-f", id).ok(t)
}

// stopSignalScript exits 7 on SIGUSR1 and ignores SIGTERM, so that only
// the right stop signal gives status 7 (SIGKILL after -t gives 137).
const stopSignalScript = `trap "echo got-usr1; exit 7" USR1; trap "" TERM; echo ready; while true; do sleep 0.05; done`

func (e *engineEnv) waitLog(ref, want string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.pcr("logs", ref).stdout, want) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never logged %q", ref, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEngineStopSignal: stop sends --stop-signal, or the image's
// STOPSIGNAL (set here by commit -c), before SIGKILL.
func TestEngineStopSignal(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("run", "-d", "--name", "flag", "--stop-signal", "SIGUSR1", "busybox", "sh", "-c", stopSignalScript).ok(t)
	e.waitLog("flag", "ready")
	e.pcr("stop", "-t", "5", "flag").ok(t)
	if code := strings.TrimSpace(e.pcr("wait", "flag").ok(t).stdout); code != "7" {
		t.Fatalf("--stop-signal SIGUSR1: exit %s, want 7 (logs %q)", code, e.pcr("logs", "flag").stdout)
	}

	e.pcr("create", "--name", "base", "busybox", "true").ok(t)
	e.pcr("commit", "-c", "STOPSIGNAL SIGUSR1", "base", "usr1stop").ok(t)
	e.pcr("run", "-d", "--name", "img", "usr1stop", "sh", "-c", stopSignalScript).ok(t)
	var insp []struct{ Config struct{ StopSignal string } }
	if err := json.Unmarshal([]byte(e.pcr("inspect", "img").ok(t).stdout), &insp); err != nil || len(insp) != 1 || insp[0].Config.StopSignal != "SIGUSR1" {
		t.Fatalf("inspect Config.StopSignal: %+v %v", insp, err)
	}
	e.waitLog("img", "ready")
	e.pcr("stop", "-t", "5", "img").ok(t)
	if code := strings.TrimSpace(e.pcr("wait", "img").ok(t).stdout); code != "7" {
		t.Fatalf("image STOPSIGNAL SIGUSR1: exit %s, want 7", code)
	}
	// Without either, SIGTERM: ignored here, so SIGKILL after the timeout.
	e.pcr("run", "-d", "--name", "term", "busybox", "sh", "-c", stopSignalScript).ok(t)
	e.waitLog("term", "ready")
	e.pcr("stop", "-t", "1", "term").ok(t)
	if code := strings.TrimSpace(e.pcr("wait", "term").ok(t).stdout); code != "137" {
		t.Fatalf("default stop: exit %s, want 137", code)
	}
	e.pcr("run", "--stop-signal", "SIGNOPE", "busybox", "true").fails(t, "invalid --stop-signal")
}

// TestEngineUserFromContainer: -u resolves against the container's own
// /etc/passwd: a user the container added is found by exec, and an image
// whose /etc is a symlink to a host directory never reads the host's.
func TestEngineUserFromContainer(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	e.pcr("run", "-d", "--name", "u", "busybox", "sh", "-c", `echo "app:x:4321:4322::/:/bin/sh" >> /etc/passwd; echo added; exec sleep 60`).ok(t)
	e.waitLog("u", "added")
	if got := strings.TrimSpace(e.pcr("exec", "-u", "app", "u", "id", "-u").ok(t).stdout); got != "4321" {
		t.Fatalf("exec -u app: uid %q, want 4321", got)
	}
	e.pcr("exec", "-u", "ghost", "u", "true").fails(t, "unable to find user ghost")
	e.pcr("rm", "-f", "u").ok(t)

	// An image with /etc -> HOSTDIR, where HOSTDIR holds a passwd only on
	// the host.
	host := filepath.Join(e.dir, "hostetc")
	os.MkdirAll(host, 0o755)
	os.WriteFile(filepath.Join(host, "passwd"), []byte("hostonly:x:4242:4242::/:/bin/sh\n"), 0o644)
	src, err := os.Open(engineBusyboxTar())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	evil := filepath.Join(e.dir, "evil.tar")
	out, err := os.Create(evil)
	if err != nil {
		t.Fatal(err)
	}
	tr, tw := tar.NewReader(src), tar.NewWriter(out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(hdr.Name, "./"), "/")
		if name == "etc" || name == "etc/" || strings.HasPrefix(name, "etc/") {
			continue
		}
		tw.WriteHeader(hdr)
		io.Copy(tw, tr)
	}
	tw.WriteHeader(&tar.Header{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: host, Mode: 0o777})
	tw.Close()
	out.Close()
	e.pcr("import", evil, "evil").ok(t)
	e.pcr("run", "--rm", "-u", "hostonly", "evil", "true").fails(t, "unable to find user hostonly")
	if r := e.pcr("run", "--rm", "-u", "4242", "evil", "id", "-u"); r.code != 0 || strings.TrimSpace(r.stdout) != "4242" {
		t.Fatalf("numeric user without passwd: %+v", r)
	}
}

// TestEngineCopyBindMounts: pcr cp sees what the container sees under
// its bind mounts: -v volumes and the /etc files pcr provides; a tmpfs,
// which has no host side, is refused.
func TestEngineCopyBindMounts(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	vol := filepath.Join(e.dir, "vol")
	os.MkdirAll(vol, 0o755)
	os.WriteFile(filepath.Join(vol, "inside"), []byte("from the volume\n"), 0o644)
	e.pcr("run", "-d", "--name", "c", "--hostname", "cphost", "-v", vol+":/data", "-v", vol+":/rodata:ro", "--tmpfs", "/scratch", "busybox", "sleep", "60").ok(t)
	src := filepath.Join(e.dir, "new.txt")
	os.WriteFile(src, []byte("copied in\n"), 0o644)
	e.pcr("cp", src, "c:/data/").ok(t)
	if data, err := os.ReadFile(filepath.Join(vol, "new.txt")); err != nil || string(data) != "copied in\n" {
		t.Fatalf("cp into the volume: host side reads %q, %v", data, err)
	}
	if got := e.pcr("exec", "c", "cat", "/data/new.txt").ok(t).stdout; got != "copied in\n" {
		t.Fatalf("cp into the volume: the container reads %q", got)
	}
	dst := filepath.Join(e.dir, "out")
	os.MkdirAll(dst, 0o755)
	e.pcr("cp", "c:/data/inside", dst).ok(t)
	e.pcr("cp", "c:/etc/hostname", dst).ok(t)
	if data, _ := os.ReadFile(filepath.Join(dst, "inside")); string(data) != "from the volume\n" {
		t.Fatalf("cp out of the volume: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(dst, "hostname")); string(data) != "cphost\n" {
		t.Fatalf("cp c:/etc/hostname: %q, want the container's", data)
	}
	hosts := filepath.Join(e.dir, "hosts")
	os.WriteFile(hosts, []byte("10.1.2.3 extra\n"), 0o644)
	e.pcr("cp", hosts, "c:/etc/hosts").ok(t)
	if got := e.pcr("exec", "c", "cat", "/etc/hosts").ok(t).stdout; got != "10.1.2.3 extra\n" {
		t.Fatalf("cp onto /etc/hosts: the container reads %q", got)
	}
	e.pcr("cp", src, "c:/scratch/").fails(t, "tmpfs mount")
	e.pcr("cp", src, "c:/rodata/").fails(t, "read-only volume")
	e.pcr("rm", "-f", "c").ok(t)
}

// TestEngineWaitThenRemove: rm -f right after wait, while the monitor's
// cleanup may still be at work, leaves nothing (checked by cleanup).
func TestEngineWaitThenRemove(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	for i := range 6 {
		args := []string{"run", "-d", "busybox", "true"}
		if i%2 == 1 {
			args = []string{"run", "-d", "--rm", "busybox", "true"}
		}
		id := strings.TrimSpace(e.pcr(args...).ok(t).stdout)
		// Docker's wait of an --rm container that is gone: no such container.
		if r := e.pcr("wait", id); r.code != 0 && !(i%2 == 1 && (strings.Contains(r.stderr, "no such container") || strings.Contains(r.stderr, "removed before"))) {
			r.ok(t)
		}
		if r := e.pcr("rm", "-f", id); r.code != 0 && !strings.Contains(r.stderr, "no such container") {
			r.ok(t)
		}
		e.checkNoLeaks()
	}
}
