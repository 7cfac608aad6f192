package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTopFormats(t *testing.T) {
	for secs, want := range map[uint64]string{0: "00:00:00", 61: "00:01:01", 3600*25 + 5: "1-01:00:05"} {
		if got := cpuTime(secs); got != want {
			t.Errorf("cpuTime(%d) = %q, want %q", secs, got, want)
		}
	}
	for nr, want := range map[int64]string{0: "?", 136<<8 | 3: "pts/3", 4<<8 | 1: "tty1", 4<<8 | 65: "ttyS1", 137<<8 | 2: "pts/258"} {
		if got := ttyName(nr); got != want {
			t.Errorf("ttyName(%#x) = %q, want %q", nr, got, want)
		}
	}
	now := time.Date(2024, 3, 9, 15, 4, 5, 0, time.Local)
	if got := stime(now.Add(-time.Hour), now); got != "14:04" {
		t.Errorf("stime today = %q, want 14:04", got)
	}
	if got := stime(now.Add(-48*time.Hour), now); got != "Mar07" {
		t.Errorf("stime two days ago = %q, want Mar07", got)
	}
}

func TestReadProcFromStat(t *testing.T) {
	proc := t.TempDir()
	dir := filepath.Join(proc, "4242")
	mustDo(t, os.MkdirAll(dir, 0o755))
	// comm with a space and a parenthesis; utime+stime = 250 ticks,
	// started 1000 ticks (10 s) after boot, on pts/1.
	fields := []string{"S", "7", "4242", "4242", "34817", "0", "0", "0", "0", "0", "0", "150", "100", "0", "0", "20", "0", "1", "0", "1000"}
	mustDo(t, os.WriteFile(filepath.Join(dir, "stat"), []byte("4242 (my (odd) cmd) "+strings.Join(fields, " ")+" 0 0\n"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(dir, "status"), []byte("Name:\tx\nUid:\t1000\t54321\t54321\t54321\n"), 0o644))
	mustDo(t, os.WriteFile(filepath.Join(dir, "cmdline"), []byte("sleep\x00100\x00"), 0o644))
	boot := time.Now().Add(-20 * time.Second)
	p, err := readProc(proc, 4242, boot, boot.Add(20*time.Second))
	mustDo(t, err)
	want := Proc{UID: "54321", PID: 4242, PPID: 7, C: 25, TTY: "pts/1", TIME: "00:00:02", CMD: "sleep 100"}
	p.STIME = ""
	if p != want {
		t.Errorf("readProc = %+v, want %+v", p, want)
	}
	// A kernel thread or zombie without a command line shows [comm].
	mustDo(t, os.WriteFile(filepath.Join(dir, "cmdline"), nil, 0o644))
	if p, _ := readProc(proc, 4242, boot, boot.Add(20*time.Second)); p.CMD != "[my (odd) cmd]" {
		t.Errorf("empty cmdline: CMD %q", p.CMD)
	}
}
