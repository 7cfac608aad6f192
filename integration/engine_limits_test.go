package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEngineUlimit: --ulimit sets the payload's rlimits; a bad one is a
// one-line error at create with nothing made; raising a hard limit above
// pcr's own without CAP_SYS_RESOURCE is a one-line error that says so.
func TestEngineUlimit(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	out := e.pcr("run", "--rm", "--ulimit", "nofile=512:1024", "--ulimit", "core=0", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c").ok(t).stdout
	if out != "512\n1024\n0\n" {
		t.Fatalf("ulimit -n, -Hn, -c inside: %q, want 512 1024 0", out)
	}
	for _, c := range []struct{ flag, msg string }{
		{"nofile=2048:1024", "soft limit must not exceed the hard limit"},
		{"files=10", `unknown name "files"`},
		{"nofile=-5", "negative"},
		{"nofile=lots", "not a number"},
		{"nofile", "want NAME=SOFT[:HARD]"},
	} {
		e.pcr("create", "--ulimit", c.flag, "busybox", "true").fails(t, c.msg)
		if r := e.pcr("run", "--rm", "--ulimit", c.flag, "busybox", "true"); r.code != 125 {
			t.Errorf("run --ulimit %s: exit %d, want 125", c.flag, r.code)
		}
	}
	if ids := e.containerIDs(); len(ids) != 0 {
		t.Fatalf("a bad --ulimit left containers: %v", ids)
	}

	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		t.Fatal(err)
	}
	if hasCapSysResource(t) || own.Max == unix.RLIM_INFINITY {
		t.Logf("CAP_SYS_RESOURCE is granted here (or nofile is unlimited): no refusal to check")
		return
	}
	above := strconv.FormatUint(own.Max+1, 10)
	e.pcr("run", "--rm", "--ulimit", "nofile="+above, "busybox", "true").fails(t, "CAP_SYS_RESOURCE")
	e.pcr("run", "-d", "--rm", "--ulimit", "nofile="+above, "busybox", "true").fails(t, "CAP_SYS_RESOURCE")
	e.pcr("create", "--name", "high", "--ulimit", "nofile="+above, "busybox", "true").ok(t)
	e.pcr("start", "high").fails(t, "CAP_SYS_RESOURCE")
	e.pcr("rm", "high").ok(t)
}

// hasCapSysResource says whether pcr (run by this test) may raise hard
// rlimits: CAP_SYS_RESOURCE in the effective set.
func hasCapSysResource(t *testing.T) bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:\t"); ok {
			caps, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// cgroupFile reads a limit from a running container's cgroup on the host,
// by the path its runtime state records: the v1 controller's directory,
// or the unified one.
func (e *engineEnv) cgroupFile(id, controller, v1File, v2File string) string {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.state, "runtime", id, "state.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var st struct {
		Cgroup struct{ Paths map[string]string }
	}
	if err := json.Unmarshal(data, &st); err != nil {
		e.t.Fatal(err)
	}
	dir, file := st.Cgroup.Paths[controller], v1File
	if d, ok := st.Cgroup.Paths[""]; ok {
		dir, file = d, v2File
	}
	if dir == "" || file == "" {
		return ""
	}
	v, err := os.ReadFile(filepath.Join(dir, file))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

// TestEngineUpdate: `pcr update` changes a running container's cgroup at
// once (memory raised past the old memory+swap limit, then lowered, in
// the order v1 needs), a stopped one's for its next start, and a restart
// keeps what was set.
func TestEngineUpdate(t *testing.T) {
	e := newEngineEnv(t)
	e.importBusybox()
	id := e.runningBusybox("--name", "upd", "-m", "16m", "--pids-limit", "10")
	mem := func() string { return e.cgroupFile(id, "memory", "memory.limit_in_bytes", "memory.max") }
	memsw := func() string { return e.cgroupFile(id, "memory", "memory.memsw.limit_in_bytes", "memory.swap.max") }
	pids := func() string { return e.cgroupFile(id, "pids", "pids.max", "pids.max") }
	quota := func() string { return e.cgroupFile(id, "cpu", "cpu.cfs_quota_us", "cpu.max") }
	v2 := e.cgroupFile(id, "", "", "cgroup.procs") != ""
	if mem() != "16777216" || pids() != "10" {
		t.Fatalf("limits at start: memory %s pids %s", mem(), pids())
	}
	swapAccounting := memsw() != ""

	r := e.pcr("update", "--memory", "64m", "--pids-limit", "20", "--cpus", "0.5", "upd").ok(t)
	if r.stdout != "upd\n" {
		t.Fatalf("update printed %q, want the container's name", r.stdout)
	}
	wantQuota := "50000"
	if v2 {
		wantQuota = "50000 100000"
	}
	if mem() != "67108864" || pids() != "20" || quota() != wantQuota {
		t.Fatalf("after update: memory %s pids %s cpu quota %s", mem(), pids(), quota())
	}
	// v1's memsw holds memory+swap (Docker's default: twice the memory);
	// v2's swap.max holds the swap alone.
	if swapAccounting && !v2 && memsw() != "134217728" {
		t.Fatalf("after update: memory+swap %s, want 128m", memsw())
	}
	// Lowered both: memory first, then memory+swap below the old memory.
	e.pcr("update", "--memory", "32m", "--memory-swap", "48m", "upd").ok(t)
	if mem() != "33554432" || (swapAccounting && !v2 && memsw() != "50331648") {
		t.Fatalf("after lowering: memory %s memory+swap %s", mem(), memsw())
	}
	if out := e.pcr("exec", "upd", "sh", "-c", "echo alive").ok(t).stdout; out != "alive\n" {
		t.Fatalf("exec after update: %q", out)
	}

	// Refusals leave the limits as they were.
	e.pcr("update", "upd").fails(t, "one or more flags")
	e.pcr("update", "--memory", "1k", "upd").fails(t, "minimum allowed is 6MB")
	e.pcr("update", "--memory", "128m", "upd").fails(t, "update --memory-swap at the same time")
	e.pcr("update", "--cpu-shares", "1", "upd").fails(t, "2..262144")
	e.pcr("update", "--pids-limit", "5", "nosuch").fails(t, "nosuch")
	if mem() != "33554432" || pids() != "20" {
		t.Fatalf("after refused updates: memory %s pids %s", mem(), pids())
	}

	e.pcr("restart", "-t", "1", "upd").ok(t)
	if mem() != "33554432" || pids() != "20" || quota() != wantQuota {
		t.Fatalf("after restart: memory %s pids %s cpu quota %s", mem(), pids(), quota())
	}

	// A stopped container takes the update at its next start.
	e.pcr("stop", "-t", "1", "upd").ok(t)
	e.pcr("update", "--pids-limit", "30", "--cpus", "0", "upd").ok(t)
	e.pcr("start", "upd").ok(t)
	wantQuota = "-1"
	if v2 {
		wantQuota = "max 100000"
	}
	if pids() != "30" || mem() != "33554432" || quota() != wantQuota {
		t.Fatalf("update while stopped, then start: pids %s memory %s cpu quota %s", pids(), mem(), quota())
	}

	// -1 takes the limits away (memory+swap with memory): at once, and
	// for the next start. v1 says unlimited with its largest value.
	e.pcr("update", "--memory", "-1", "--pids-limit", "-1", "upd").ok(t)
	unlimited := func(v string) bool { return v == "max" || v == "9223372036854771712" }
	if !unlimited(mem()) || pids() != "max" || (swapAccounting && !unlimited(memsw())) {
		t.Fatalf("limits taken away: memory %s memory+swap %s pids %s", mem(), memsw(), pids())
	}
	e.pcr("restart", "-t", "1", "upd").ok(t)
	if m := mem(); (m != "" && !unlimited(m)) || (pids() != "" && pids() != "max") {
		t.Fatalf("limits taken away, after a restart: memory %s pids %s", m, pids())
	}
	e.pcr("rm", "-f", "upd").ok(t)
}
