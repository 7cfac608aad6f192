package integration

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pcr sets most containers up with its init in C (runtime/fastplan.go,
// fastinit.c) and keeps the Go init for the rest and for every failure.
// These tests hold the two to the same container.

// containerView prints what a process sees of its container, in a form
// that does not change from run to run (no mount ids, no pids).
const containerView = `set -e
echo "id: $(id)"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status
echo "umask: $(umask) cwd: $(pwd) host: $(hostname)"
echo "nofile: $(ulimit -n) core: $(ulimit -c)"
echo "oom: $(cat /proc/self/oom_score_adj)"
echo "ping: $(cat /proc/sys/net/ipv4/ping_group_range)"
env | grep -v '^HOSTNAME=' | sort
awk '{ sep = 0; for (i = 7; i <= NF; i++) if ($i == "-") sep = i; print $5, $6, $(sep+1), $(sep+2) }' /proc/self/mountinfo
ls -ln /dev | awk 'NR > 1 { print $1, $3, $4, $5, $6, $NF }'
if mkdir /probe-ro 2>/dev/null; then echo "root writable"; else echo "root read-only"; fi
cat /data/in.txt
ip link show lo | head -1 | grep -o 'state [A-Z]*\|UP' | head -1
`

func TestOCIFastInitMatchesGoInit(t *testing.T) {
	e := newEnv(t)
	data := t.TempDir()
	if err := os.WriteFile(data+"/in.txt", []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	umask := uint32(0o027)
	adj := 250
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", containerView}
		s.Process.Cwd = "/tmp"
		s.Process.Env = append(s.Process.Env, "GREETING=hello world")
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}, Umask: &umask}
		s.Process.OOMScoreAdj = &adj
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding: []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}, Effective: []string{"CAP_KILL"},
			Permitted: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"}, Inheritable: []string{"CAP_NET_BIND_SERVICE"},
			Ambient: []string{"CAP_NET_BIND_SERVICE"},
		}
		s.Process.NoNewPrivileges = true
		s.Hostname = "fastinit"
		s.Root.Readonly = true
		s.Linux.Sysctl = map[string]string{"net.ipv4.ping_group_range": "0 2000"}
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mknod", "mknodat"}, Action: specs.ActErrno}}}
		s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/fuse-like", Type: "c", Major: 1, Minor: 3})
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/data", Source: data, Options: []string{"rbind", "ro", "nosuid", "rprivate"}},
			specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=1777", "size=1m"}})
	})
	fast := e.pcr("--debug", "run", "--bundle", b, e.id()).ok(t)
	if !strings.Contains(fast.stderr, "(C init") {
		t.Fatalf("this spec did not take the C init:\n%s", fast.stderr)
	}
	t.Setenv("PCR_GO_INIT", "1")
	slow := e.pcr("--debug", "run", "--bundle", b, e.id()).ok(t)
	if strings.Contains(slow.stderr, "(C init") || !strings.Contains(slow.stderr, "PCR_GO_INIT=1") {
		t.Fatalf("PCR_GO_INIT=1 did not keep the Go init:\n%s", slow.stderr)
	}
	if fast.stdout != slow.stdout {
		t.Errorf("the C init and the Go init made different containers\n--- C init\n%s\n--- Go init\n%s", fast.stdout, slow.stdout)
	}
	for _, want := range []string{"uid=1000(pcr) gid=1000(pcr) groups=10,20", "NoNewPrivs:\t1", "Seccomp:\t2", "umask: 0027 cwd: /tmp host: fastinit",
		"nofile: 512", "oom: 250", "ping: 0\t2000", "GREETING=hello world", "HOME=/home/pcr", "root read-only", "from the host",
		"/data ro,nosuid", "crw-rw-rw- 0 0 1, 3 fuse-like"} {
		if !strings.Contains(fast.stdout, want) {
			t.Errorf("container view lacks %q:\n%s", want, fast.stdout)
		}
	}
}

// A payload the C init cannot find falls back to the Go init, which says so
// in the runtime's usual words.
func TestOCIFastInitFallsBack(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"/no/such/binary"} })
	r := e.pcr("--debug", "run", "--bundle", b, e.id())
	if r.code == 0 {
		t.Fatalf("a missing payload ran: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "C init fell back") || !strings.Contains(r.stderr, "/no/such/binary") {
		t.Fatalf("no fallback to the Go init in:\n%s", r.stderr)
	}
	// With no PATH a bare name is not found, as the Go init says, and never
	// turns into an execve failure after the container was reported ready.
	noPath := e.bundle(func(s *specs.Spec) { s.Process.Env = []string{"TERM=xterm"}; s.Process.Args = []string{"true"} })
	if r := e.pcr("run", "--bundle", noPath, e.id()); r.code == 0 || !strings.Contains(r.stderr, "not found in $PATH") {
		t.Fatalf("no PATH: exit %d: %q", r.code, r.stderr)
	}
	// and what the user sees is the Go init's error, once
	plain := e.pcr("run", "--bundle", b, e.id())
	if plain.code == 0 || strings.Count(strings.TrimSpace(plain.stderr), "\n") != 0 ||
		!strings.Contains(plain.stderr, "stat /no/such/binary: no such file or directory") || strings.Contains(plain.stderr, "fell back") {
		t.Fatalf("error for a missing payload: exit %d: %q", plain.code, plain.stderr)
	}
}
