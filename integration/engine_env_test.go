package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// engineEnv is one engine test's private world: its own --root and
// --state, busybox imported on first use, and a check at the end that
// nothing of pcr's made during the test is left.
type engineEnv struct {
	t     *testing.T
	dir   string
	root  string
	state string
	// pcrCgroups are the "pcr" parent cgroups that existed before the test.
	pcrCgroups map[string]bool
	// cgroupsBefore are the cgroup dirs below those parents before the test.
	cgroupsBefore map[string]bool
	busybox       bool
}

func newEngineEnv(t *testing.T) *engineEnv {
	t.Helper()
	requirePrereqs(t)
	dir := t.TempDir()
	e := &engineEnv{t: t, dir: dir, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state")}
	e.pcrCgroups = pcrParentCgroups()
	e.cgroupsBefore = pcrChildCgroups(e.pcrCgroups)
	t.Cleanup(e.cleanup)
	return e
}

// engineBusyboxTar is the fixture tarball; older fixture layouts keep it beside
// the busybox dir instead of inside it.
func engineBusyboxTar() string {
	p := filepath.Join(fixtures, "busybox", "busybox.tar")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join(fixtures, "busybox.tar")
}

// importBusybox imports the busybox fixture as "busybox", once per test.
func (e *engineEnv) importBusybox() {
	e.t.Helper()
	if e.busybox {
		return
	}
	e.pcr("import", engineBusyboxTar(), "busybox").ok(e.t)
	e.busybox = true
}

// pcr runs `pcr --root R --state S args…` with a 60 s limit.
func (e *engineEnv) pcr(args ...string) result {
	return e.pcrIn(nil, args...)
}

func (e *engineEnv) pcrIn(stdin []byte, args ...string) result {
	return runPCR(e.t, 60*time.Second, stdin, []string{"--root", e.root, "--state", e.state}, args)
}

// command is `pcr --root R --state S args…`, not started.
func (e *engineEnv) command(args ...string) *exec.Cmd {
	full := append([]string{"--root", e.root, "--state", e.state}, args...)
	return exec.Command(pcrBin, full...)
}

// containerIDs lists the container dirs under the root.
func (e *engineEnv) containerIDs() []string {
	entries, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	var ids []string
	for _, en := range entries {
		if en.IsDir() && en.Name() != "names" {
			ids = append(ids, en.Name())
		}
	}
	return ids
}

// cleanup removes whatever the test left with `pcr rm -f`, then fails the
// test if anything of pcr's survived that.
func (e *engineEnv) cleanup() {
	if ids := e.containerIDs(); len(ids) > 0 {
		e.pcr(append([]string{"rm", "-f"}, ids...)...)
	}
	e.checkNoLeaks()
}

func (e *engineEnv) checkNoLeaks() {
	t := e.t
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, e.dir) {
				t.Errorf("leaked mount: %s", l)
			}
		}
	}
	for _, id := range e.containerIDs() {
		t.Errorf("leaked container dir: %s", filepath.Join(e.root, "containers", id))
	}
	if entries, err := os.ReadDir(filepath.Join(e.root, "containers", "names")); err == nil {
		for _, en := range entries {
			t.Errorf("leaked name: %s", en.Name())
		}
	}
	if entries, err := os.ReadDir(filepath.Join(e.state, "runtime")); err == nil {
		for _, en := range entries {
			t.Errorf("leaked runtime state: %s", filepath.Join(e.state, "runtime", en.Name()))
		}
	}
	checkNoHostLeaks(t, e.dir, e.pcrCgroups, e.cgroupsBefore)
	checkNoVserverLeaks(t, e.root)
}

// checkNoHostLeaks fails t for what a test under dir left on the host:
// pcr cgroups that were not there before (pcrCgroups, cgroupsBefore),
// processes and loop devices that point into dir.
func checkNoHostLeaks(t *testing.T, dir string, pcrCgroups, cgroupsBefore map[string]bool) {
	t.Helper()
	// Children are listed under every pcr parent there is now, those the
	// test made included, so that a leaked container cgroup is named and
	// not only the shared parent it keeps alive.
	parents := pcrParentCgroups()
	for d := range parents {
		if !pcrCgroups[d] {
			t.Errorf("leaked cgroup: %s (pcr's shared parent, empty once the test's containers are gone)", d)
		}
	}
	for d := range pcrChildCgroups(parents) {
		if !cgroupsBefore[d] {
			t.Errorf("leaked cgroup: %s (procs: %s)", d, cgroupProcs(d))
		}
	}
	for _, p := range processesUnder(dir) {
		t.Errorf("leaked process: %s", p)
	}
	for _, l := range loopDevicesUnder(dir) {
		t.Errorf("leaked loop device: %s", l)
	}
}

// loopDevicesUnder lists the loop devices backed by a file under dir. An
// auto-clearing device may take a moment to go after its last unmount.
func loopDevicesUnder(dir string) []string {
	var out []string
	for range 50 {
		out = nil
		files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && strings.HasPrefix(string(b), dir) {
				out = append(out, strings.Split(f, "/")[3]+" "+strings.TrimSpace(string(b)))
			}
		}
		if len(out) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out
}

// pcrChildCgroups lists the container cgroups below pcr's shared parents.
func pcrChildCgroups(parents map[string]bool) map[string]bool {
	out := map[string]bool{}
	for p := range parents {
		entries, _ := os.ReadDir(p)
		for _, en := range entries {
			if en.IsDir() {
				out[filepath.Join(p, en.Name())] = true
			}
		}
	}
	return out
}

// cgroupProcs is the pids in a cgroup, with their command lines, for a
// leak report that says what kept it.
func cgroupProcs(dir string) string {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var out []string
	for _, pid := range strings.Fields(string(data)) {
		cl, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		out = append(out, pid+" "+strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " ")))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// processesUnder lists the processes whose command line, cwd or root
// points into dir: a monitor, a container's init before pivot_root, a
// pcr that never exited.
func processesUnder(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := "/proc/" + strconv.Itoa(os.Getpid())
	for _, p := range procs {
		if p == self {
			continue
		}
		for _, l := range []string{"root", "cwd"} {
			if target, err := os.Readlink(filepath.Join(p, l)); err == nil && strings.HasPrefix(target, dir) {
				out = append(out, p+" "+l+" "+target)
			}
		}
		if cl, err := os.ReadFile(filepath.Join(p, "cmdline")); err == nil && bytes.Contains(cl, []byte(dir)) {
			out = append(out, p+" cmdline "+strings.ReplaceAll(string(cl), "\x00", " "))
		}
	}
	return out
}
