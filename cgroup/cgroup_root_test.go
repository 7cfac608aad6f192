package cgroup

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// requireRoot skips without root, except in CI where a skipped root test
// would hide a broken runner.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("root tests need root (CI=true)")
	}
	t.Skip("needs root")
}

func testName(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pcr-test-" + hex.EncodeToString(b)
}

// startSleep starts a child that the test always reaps.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	return cmd
}

// newReal creates a manager on this host and guarantees removal of what
// it created, even when the test fails halfway.
func newReal(t *testing.T, cgroupsPath, id string) Manager {
	t.Helper()
	m, err := New(cgroupsPath, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st := m.State()
		_ = m.Kill(unix.SIGKILL)
		if err := m.Delete(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, d := range st.Created {
			if exists(d) && slices.Contains(mapValues(st.Paths), d) {
				t.Errorf("cleanup left %s behind", d)
			}
		}
	})
	return m
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func boolp(v bool) *bool   { return &v }
func mustRead(t *testing.T, dir, name string) string {
	t.Helper()
	s, err := readString(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRootLifecycle(t *testing.T) {
	requireRoot(t)
	name := testName(t)
	m := newReal(t, "", name) // "" -> pcr/<id> below our own cgroup
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(16)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0"},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		},
	}
	if err := m.Apply(res); err != nil {
		t.Fatal(err)
	}
	st := m.State()
	if st.Version != Mode() {
		t.Errorf("state version %q, Mode() %q", st.Version, Mode())
	}
	if len(st.Created) == 0 {
		t.Fatal("Apply recorded no created dirs")
	}
	for _, d := range st.Created {
		if !strings.Contains(d, "/pcr") {
			t.Errorf("created %s outside pcr/", d)
		}
	}

	if st.Version == ModeV2 {
		dir := st.Paths[""]
		if got := mustRead(t, dir, "memory.max"); got != "67108864" {
			t.Errorf("memory.max = %s", got)
		}
	} else {
		mem, pids := st.Paths["memory"], st.Paths["pids"]
		if !strings.HasSuffix(mem, "/pcr/"+name) || !strings.HasSuffix(pids, "/pcr/"+name) {
			t.Fatalf("unexpected paths %v", st.Paths)
		}
		if got := mustRead(t, mem, "memory.limit_in_bytes"); got != "67108864" {
			t.Errorf("memory.limit_in_bytes = %s", got)
		}
		if got := mustRead(t, pids, "pids.max"); got != "16" {
			t.Errorf("pids.max = %s", got)
		}
		if got := mustRead(t, st.Paths["cpu"], "cpu.cfs_quota_us"); got != "50000" {
			t.Errorf("cpu.cfs_quota_us = %s", got)
		}
		if got := mustRead(t, st.Paths["cpuset"], "cpuset.cpus"); got != "0" {
			t.Errorf("cpuset.cpus = %s", got)
		}
		if got := mustRead(t, st.Paths["devices"], "devices.list"); got != "c 1:3 rwm" {
			t.Errorf("devices.list = %q", got)
		}
	}

	cmd := startSleep(t)
	pid := cmd.Process.Pid
	if err := m.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if st.Version != ModeV2 && parts[0] == "0" {
			continue // the unified hierarchy of a hybrid host is not ours
		}
		if !strings.HasSuffix(parts[2], "/pcr/"+name) {
			t.Errorf("child not moved in hierarchy %q: %s", parts[1], parts[2])
		}
	}

	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, []int{pid}) {
		t.Errorf("Pids() = %v, want [%d]", pids, pid)
	}
	stats, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Pids.Current != 1 || stats.Pids.Limit != 16 || stats.Memory.Limit != 64<<20 {
		t.Errorf("stats pids %+v memory limit %d", stats.Pids, stats.Memory.Limit)
	}
	ev := stats.AppendRuncEvent(nil)
	if !json.Valid(ev) {
		t.Fatalf("runc event data is not JSON: %s", ev)
	}
	if !strings.Contains(string(ev), `"pids":{"current":1,"limit":16}`) || !strings.Contains(string(ev), `"limit":67108864`) {
		t.Errorf("runc event JSON: %s", ev)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if fr, err := m.Frozen(); err != nil || !fr {
		t.Errorf("Frozen() = %v, %v after Freeze", fr, err)
	}
	if st.Version != ModeV2 {
		if got := mustRead(t, st.Paths["freezer"], "freezer.state"); got != "FROZEN" {
			t.Errorf("freezer.state = %s", got)
		}
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if fr, err := m.Frozen(); err != nil || fr {
		t.Errorf("Frozen() = %v, %v after Thaw", fr, err)
	}

	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("sleep ended with %v, want SIGKILL", err)
	}

	// Delete through a manager loaded from the saved state, as
	// `pcr oci delete` would.
	raw, err := json.Marshal(m.State())
	if err != nil {
		t.Fatal(err)
	}
	var saved State
	if err := json.Unmarshal(raw, &saved); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Paths {
		if exists(d) {
			t.Errorf("%s still exists after Delete", d)
		}
	}
	for _, d := range st.Created {
		if exists(d) && !strings.HasSuffix(d, "/pcr") {
			t.Errorf("created dir %s still exists after Delete", d)
		}
	}
}

func TestRootInvalidValues(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		name string
		res  specs.LinuxResources
		want []string // all must appear in the error
	}{
		{"memory 1 byte", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1)}}, []string{"memory", `"1"`}},
		{"negative quota", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-5)}}, []string{"quota", `"-5"`}},
		{"cpuset beyond host", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "99-100"}}, []string{"cpuset.cpus", `"99-100"`}},
		{"swap below memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(32 << 20)}}, []string{"swap", `"33554432"`}},
		{"pids via unified on v1", specs.LinuxResources{Unified: map[string]string{"pids.max": "3"}}, []string{"unified"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.res.Unified != nil && Mode() == ModeV2 {
				t.Skip("unified is valid on v2")
			}
			m := newReal(t, testName(t), "x")
			err := m.Apply(&tc.res)
			if err == nil {
				t.Fatal("Apply accepted an invalid value")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			// A failed Apply leaves nothing behind.
			for _, d := range m.State().Paths {
				if exists(d) {
					t.Errorf("%s left after failed Apply", d)
				}
			}
		})
	}
}

// The kernel's own refusals must name file and value too.
func TestRootKernelRefusalNamesFile(t *testing.T) {
	requireRoot(t)
	if Mode() == ModeV2 {
		t.Skip("v1 realtime files")
	}
	m := newReal(t, testName(t), "x")
	err := m.Apply(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(5_000_000)}})
	var we *WriteError
	if !errors.As(err, &we) || filepath.Base(we.Path) != "cpu.rt_runtime_us" || we.Value != "5000000" {
		t.Fatalf("got %v, want a WriteError for cpu.rt_runtime_us 5000000", err)
	}
}

// A cgroup that exists already is not pcr's: joining it is fine, changing
// its limits or removing it is not.
func TestRootForeignCgroupUntouched(t *testing.T) {
	requireRoot(t)
	h, err := DetectHost()
	if err != nil {
		t.Fatal(err)
	}
	name := testName(t)
	// Where a relative path lands depends on the host (beside a v2 caller
	// with processes), so make the directories New resolves to.
	m, err := h.New(name, "x")
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for _, d := range m.State().Paths {
		if err := os.Mkdir(d, 0o755); err == nil {
			made = append(made, d)
		}
	}
	t.Cleanup(func() {
		for _, d := range made {
			if err := os.Remove(d); err != nil {
				t.Errorf("cleanup %s: %v", d, err)
			}
		}
	})
	if err := m.Apply(nil); err != nil {
		t.Fatalf("Apply(nil) on an existing cgroup: %v", err)
	}
	err = m.Apply(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}})
	if err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("Apply with limits on a foreign cgroup: %v", err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range made {
		if !exists(d) {
			t.Errorf("Delete removed foreign cgroup %s", d)
		}
	}
}

// Loading the device filter runs the kernel verifier over it without
// attaching it anywhere.
func TestRootDeviceFilterVerifies(t *testing.T) {
	requireRoot(t)
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(136), Access: "rw"},
		{Allow: false, Type: "b", Access: "w"},
		{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "m"},
	}
	if err := verifyDeviceFilter(rules); err != nil {
		t.Fatal(err)
	}
}

func verifyDeviceFilter(rules []specs.LinuxDeviceCgroup) error {
	insns, err := deviceFilter(rules)
	if err != nil {
		return err
	}
	fd, err := loadCgroupDeviceProg(insns, deviceFilterName)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}
