#!/usr/bin/env bash
# Check the cgroup2-qemu harness itself, without pcr's tests: build a small static Go test binary
# in a temp dir outside the repo, boot it twice through run.sh and require
#   1. a run of tests that assert the VM is what the harness promises (pure cgroup v2 with memory,
#      pivot_root works in a new mount namespace, PID 1 reaps orphans) to report PASS, exit 0;
#   2. a run of a test that fails to report FAIL, exit 1;
#   3. a run whose test hangs to be killed at CGROUP2_TIMEOUT and reported as a failure, exit 1;
#   4. a run whose console shows a long kernel soft lockup (a test prints the kernel's line) to be
#      stopped at once as a hung VM, booted again once, and reported as a failure, exit 1.
# Needs rootfs-fixtures/build (make fixtures). Uses bin/pcr when present, else a stand-in.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
go=${GO:-go}

tmp=$(mktemp -d /tmp/pcr-cgroup2-selftest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/go.mod" <<'EOF'
module selftest

go 1.22
EOF
cat >"$tmp/harness_test.go" <<'EOF'
package selftest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCgroupV2Pure(t *testing.T) {
	controllers, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		t.Fatalf("read cgroup.controllers: %v", err)
	}
	if !strings.Contains(" "+string(controllers)+" ", " memory ") {
		t.Fatalf("memory controller missing: %q", controllers)
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatalf("read mounts: %v", err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 2 && fields[2] == "cgroup" {
			t.Errorf("cgroup v1 hierarchy mounted: %s", line)
		}
	}
	if os.Getenv("PCR_BIN") == "" || os.Getenv("PCR_FIXTURES") == "" || os.Getenv("CI") != "true" {
		t.Errorf("env not set: PCR_BIN=%q PCR_FIXTURES=%q CI=%q", os.Getenv("PCR_BIN"), os.Getenv("PCR_FIXTURES"), os.Getenv("CI"))
	}
	if _, err := os.Stat(os.Getenv("PCR_FIXTURES") + "/busybox/rootfs/bin/busybox"); err != nil {
		t.Errorf("busybox fixture: %v", err)
	}
}

// A container runtime pivots into a rootfs below /tmp; that must work in the VM.
func TestOCIPivotRoot(t *testing.T) {
	script := `set -e
mount --make-rprivate /
d=$(mktemp -d)
mount -t tmpfs rootfs "$d"
mkdir -p "$d/bin" "$d/old"
cp /bin/busybox "$d/bin/"
cd "$d"
pivot_root . old
/bin/busybox test -x /bin/busybox
/bin/busybox test -d /old/pcr
echo pivoted`
	out, err := exec.Command("unshare", "-m", "sh", "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pivoted") {
		t.Fatalf("pivot_root in a new mount namespace: %v: %s", err, out)
	}
}

func TestReapOrphans(t *testing.T) {
	out, err := exec.Command("sh", "-c", "sleep 1 & echo $!").Output()
	if err != nil {
		t.Fatalf("start orphan: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("parse pid %q: %v", out, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
			t.Fatalf("orphan %d not reaped by PID 1:\n%s", pid, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMustFail(t *testing.T) {
	t.Fatal("this test fails on purpose: the harness must report FAIL")
}

func TestHangForever(t *testing.T) {
	time.Sleep(time.Hour)
}

// The line the kernel's watchdog prints for a CPU that has not scheduled for 999 s.
func TestFakeLockup(t *testing.T) {
	os.Stdout.WriteString("\n[ 1128.341257] watchdog: BUG: soft lockup - CPU#1 stuck for 999s! [cp:5601]\n")
	time.Sleep(time.Hour)
}
EOF

log() { printf '==> cgroup2-qemu selftest: %s\n' "$*" >&2; }

(cd "$tmp" && CGO_ENABLED=1 "$go" test -c -tags osusergo,netgo -ldflags '-s -w -extldflags -static' -o "$tmp/harness.test" .)

pcr_bin=${PCR_BIN:-$repo/bin/pcr}
if [[ ! -x $pcr_bin ]]; then
	# run.sh only copies PCR_BIN into the VM; any static binary stands in for it here.
	pcr_bin="$tmp/pcr-standin"
	cp "$repo/rootfs-fixtures/build/busybox/rootfs/bin/busybox" "$pcr_bin"
fi

start=$SECONDS
log "run 1: expecting PASS"
if ! PCR_BIN=$pcr_bin CGROUP2_TEST_BINS="$tmp/harness.test" CGROUP2_RUN='Cgroup|OCI|Reap' "$here/run.sh"; then
	log "FAILED: the passing run was not reported as PASS"
	exit 1
fi
pass_time=$((SECONDS - start))

start=$SECONDS
log "run 2: expecting FAIL"
if PCR_BIN=$pcr_bin CGROUP2_TEST_BINS="$tmp/harness.test" CGROUP2_RUN='MustFail' "$here/run.sh"; then
	log "FAILED: the failing run was reported as PASS"
	exit 1
fi
fail_time=$((SECONDS - start))

start=$SECONDS
log "run 3: expecting the VM to be killed after 30s"
if PCR_BIN=$pcr_bin CGROUP2_TEST_BINS="$tmp/harness.test" CGROUP2_RUN='HangForever' CGROUP2_TIMEOUT=30 "$here/run.sh"; then
	log "FAILED: the hanging run was reported as PASS"
	exit 1
fi
hang_time=$((SECONDS - start))
start=$SECONDS
log "run 4: expecting a hung VM to be stopped, booted again once, and reported as a failure"
if PCR_BIN=$pcr_bin CGROUP2_TEST_BINS="$tmp/harness.test" CGROUP2_RUN='FakeLockup' CGROUP2_TIMEOUT=300 \
	"$here/run.sh" 2>"$tmp/lockup.log"; then
	cat "$tmp/lockup.log" >&2
	log "FAILED: the hung run was reported as PASS"
	exit 1
fi
cat "$tmp/lockup.log" >&2
lockup_time=$((SECONDS - start))
if [[ $(grep -c 'VM hung in the kernel' "$tmp/lockup.log") -ne 2 ]] || ! grep -q 'during: TestFakeLockup' "$tmp/lockup.log"; then
	log "FAILED: the hung VM was not stopped and booted again once, naming the test it was in"
	exit 1
fi
if ((lockup_time >= 300)); then
	log "FAILED: the hung VM ran into CGROUP2_TIMEOUT instead of being stopped (${lockup_time}s)"
	exit 1
fi
log "ok: PASS, FAIL, timeout and hang all detected (pass run ${pass_time}s, fail run ${fail_time}s, timeout run ${hang_time}s, hang run ${lockup_time}s)"
