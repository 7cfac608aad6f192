// Package integration drives the built bin/pcr as a user would, as root,
// each test with its own --root and bundle, and checks after each test that
// nothing of pcr's is left: no mount, cgroup or process.
package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	pcrBin   string
	fixtures string
)

func TestMain(m *testing.M) {
	pcrBin = os.Getenv("PCR_BIN")
	fixtures = os.Getenv("PCR_FIXTURES")
	hadBridge, hadTable := defaultNetworkPresent()
	code := m.Run()
	// The tests' containers made pcr's default network (bridge pcr0, nft
	// table inet pcr) if it was not there: take it away again, so the run
	// leaves no link or rule of pcr's behind.
	if !hadBridge {
		exec.Command("ip", "link", "del", "pcr0").Run()
	}
	if !hadTable {
		exec.Command("nft", "delete", "table", "inet", "pcr").Run()
	}
	os.Exit(code)
}

// defaultNetworkPresent says whether pcr's default bridge and nft table
// exist already (made by a user's containers, not by these tests).
func defaultNetworkPresent() (bridge, table bool) {
	_, err := os.Stat("/sys/class/net/pcr0")
	bridge = err == nil
	table = exec.Command("nft", "list", "table", "inet", "pcr").Run() == nil
	return bridge, table
}

// requirePrereqs skips outside CI and fails under CI=true: a missing
// prerequisite there is a broken CI, not a reason to pass.
func requirePrereqs(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if pcrBin == "" {
		missing = append(missing, "PCR_BIN (run through make test)")
	} else if _, err := os.Stat(pcrBin); err != nil {
		missing = append(missing, "bin/pcr: "+err.Error())
	}
	if fixtures == "" {
		missing = append(missing, "PCR_FIXTURES (run make fixtures)")
	} else if _, err := os.Stat(filepath.Join(fixtures, "busybox", "rootfs", "bin", "busybox")); err != nil {
		missing = append(missing, "busybox fixture: "+err.Error())
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisites under CI=true: %s", strings.Join(missing, ", "))
	}
	t.Skipf("missing prerequisites: %s", strings.Join(missing, ", "))
}

// env is one test's private world: state root, bundles, and the ids it made.
type env struct {
	t     *testing.T
	dir   string
	root  string
	tag   string
	count int
	// pcrCgroups are the "pcr" parent cgroups that existed before the test.
	pcrCgroups map[string]bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	requirePrereqs(t)
	dir := t.TempDir()
	b := make([]byte, 4)
	rand.Read(b)
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "state"), tag: "it" + hex.EncodeToString(b)}
	e.pcrCgroups = pcrParentCgroups()
	t.Cleanup(e.cleanup)
	return e
}

// id returns a fresh container id that carries the test's tag, so the leak
// check can find anything of this test's by name.
func (e *env) id() string {
	e.count++
	return fmt.Sprintf("%s-%d", e.tag, e.count)
}

// bundle makes a bundle with a copy of the busybox rootfs and the default
// spec (non-terminal, running sh -c true), changed by mutate.
func (e *env) bundle(mutate func(*specs.Spec)) string {
	e.t.Helper()
	e.count++
	dir := filepath.Join(e.dir, fmt.Sprintf("bundle%d", e.count))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	out, err := exec.Command("cp", "-a", filepath.Join(fixtures, "busybox", "rootfs"), filepath.Join(dir, "rootfs")).CombinedOutput()
	if err != nil {
		e.t.Fatalf("copy rootfs: %v: %s", err, out)
	}
	r := e.pcr("spec", "--bundle", dir)
	r.ok(e.t)
	spec := e.readSpec(dir)
	spec.Process.Terminal = false
	spec.Process.Args = []string{"true"}
	if mutate != nil {
		mutate(spec)
	}
	e.writeSpec(dir, spec)
	return dir
}

func (e *env) readSpec(bundle string) *specs.Spec {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	s := &specs.Spec{}
	if err := json.Unmarshal(data, s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) writeSpec(bundle string, s *specs.Spec) {
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	args   []string
	stdout string
	stderr string
	code   int
	err    error
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 || (r.err != nil && r.code == 0) {
		t.Fatalf("pcr %s: exit %d (%v)\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.err, r.stdout, r.stderr)
	}
	return r
}

// fails asserts a non-zero exit with a one-line error containing want.
func (r result) fails(t *testing.T, want string) result {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("pcr %s: succeeded, want failure with %q\nstdout: %s", strings.Join(r.args, " "), want, r.stdout)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("pcr %s: stderr %q does not contain %q", strings.Join(r.args, " "), r.stderr, want)
	}
	if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines > 0 && !strings.Contains(r.stderr, "warning") {
		t.Fatalf("pcr %s: error is %d lines, want one: %q", strings.Join(r.args, " "), lines+1, r.stderr)
	}
	return r
}

// pcr runs `pcr oci --root <private> args…` with a 60 s limit.
func (e *env) pcr(args ...string) result {
	return e.pcrIn(nil, args...)
}

func (e *env) pcrIn(stdin []byte, args ...string) result {
	return runPCR(e.t, 60*time.Second, stdin, []string{"oci", "--root", e.root}, args)
}

// runPCR runs bin/pcr with the leading args lead (global flags, the oci
// verb) and then args, feeding stdin, killing it after limit. result.args
// holds only args, so failures read like the command the test meant.
func runPCR(t *testing.T, limit time.Duration, stdin []byte, lead, args []string) result {
	cmd := exec.Command(pcrBin, append(append([]string{}, lead...), args...)...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		return result{args: args, err: err, code: -1}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		err = <-done
		t.Errorf("pcr %s: timed out after %s", strings.Join(args, " "), limit)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	} else if err != nil {
		code = -1
	}
	return result{args: args, stdout: so.String(), stderr: se.String(), code: code, err: err}
}

// run runs a bundle in the foreground and returns the result.
func (e *env) run(bundle string) result {
	return e.pcr("run", "--bundle", bundle, e.id())
}

// runSh runs `sh -c script` in a default bundle changed by mutate, and
// returns stdout; it fails the test on a non-zero exit.
func (e *env) runSh(script string, mutate func(*specs.Spec)) string {
	e.t.Helper()
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		if mutate != nil {
			mutate(s)
		}
	})
	return e.run(b).ok(e.t).stdout
}

func (e *env) state(id string) map[string]any {
	e.t.Helper()
	r := e.pcr("state", id).ok(e.t)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		e.t.Fatalf("state %s: %v: %s", id, err, r.stdout)
	}
	return m
}

// cleanup force-deletes what the test left and then fails it if anything
// of pcr's is still there.
func (e *env) cleanup() {
	if entries, err := os.ReadDir(e.root); err == nil {
		for _, en := range entries {
			e.pcr("delete", "--force", en.Name())
		}
	}
	e.checkNoLeaks()
}

func (e *env) checkNoLeaks() {
	t := e.t
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, e.dir) {
				t.Errorf("leaked mount: %s", l)
			}
		}
	}
	filepath.WalkDir("/sys/fs/cgroup", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(d.Name(), e.tag) {
			t.Errorf("leaked cgroup: %s", path)
			return filepath.SkipDir
		}
		if strings.Count(path, "/") > 8 {
			return filepath.SkipDir
		}
		return nil
	})
	if entries, err := os.ReadDir(e.root); err == nil && len(entries) > 0 {
		for _, en := range entries {
			t.Errorf("leaked state: %s", filepath.Join(e.root, en.Name()))
		}
	}
	for _, p := range e.processesIn(e.dir) {
		t.Errorf("leaked process: %s", p)
	}
	for dir := range pcrParentCgroups() {
		if !e.pcrCgroups[dir] {
			t.Errorf("leaked cgroup: %s (pcr's shared parent, empty once the test's containers are gone)", dir)
		}
	}
}

// pcrParentCgroups finds the "pcr" cgroups that hold default-path containers.
func pcrParentCgroups() map[string]bool {
	found := map[string]bool{}
	filepath.WalkDir("/sys/fs/cgroup", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == "pcr" {
			found[path] = true
			return filepath.SkipDir
		}
		if strings.Count(path, "/") > 8 {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

// processesIn lists the processes whose root or cwd is inside dir (before
// pivot_root), or that sit in a cgroup of this test's containers: after
// pivot_root, /proc/PID/root of a process in another mount namespace reads
// "/", so the cgroup is what gives a container's process away.
func (e *env) processesIn(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		for _, l := range []string{"root", "cwd"} {
			if target, err := os.Readlink(filepath.Join(p, l)); err == nil && strings.HasPrefix(target, dir) {
				out = append(out, p+" "+l+" "+target)
			}
		}
		if cg, err := os.ReadFile(filepath.Join(p, "cgroup")); err == nil && strings.Contains(string(cg), "/"+e.tag+"-") {
			out = append(out, p+" in cgroup "+strings.TrimSpace(string(cg)))
		}
	}
	return out
}
