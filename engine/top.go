package engine

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture pcr builds for (the kernel fixes it for userspace).
const clockTicks = 100

// TopColumns are the columns of pcr top, those of `ps -ef`.
func TopColumns() []string {
	return []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}
}

// Proc is one process of a container, read from /proc (host pids).
type Proc struct {
	UID   string
	PID   int
	PPID  int
	C     int // CPU use over its lifetime, in percent (ps's C)
	STIME string
	TTY   string
	TIME  string
	CMD   string
}

// Row is p's values in TopColumns' order.
func (p Proc) Row() []string {
	return []string{p.UID, strconv.Itoa(p.PID), strconv.Itoa(p.PPID), strconv.Itoa(p.C), p.STIME, p.TTY, p.TIME, p.CMD}
}

// Top lists the processes of a running container, sorted by pid. It
// reads /proc itself: the host need not have a ps.
func (e *Engine) Top(ref string) ([]Proc, error) {
	c, err := e.Inspect(ref)
	if err != nil {
		return nil, err
	}
	if !c.State.Running {
		return nil, fmt.Errorf("container %s is not running", ref)
	}
	pids, err := e.rt.Pids(c.ID)
	if err != nil {
		return nil, fmt.Errorf("top of container %s: %w", ref, err)
	}
	sort.Ints(pids)
	boot := bootTime()
	now := time.Now()
	var out []Proc
	for _, pid := range pids {
		p, err := readProc("/proc", pid, boot, now)
		if err != nil {
			continue // exited since the cgroup was read
		}
		out = append(out, p)
	}
	return out, nil
}

// readProc reads one process from procDir/PID/{stat,status,cmdline}.
func readProc(procDir string, pid int, boot, now time.Time) (Proc, error) {
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Proc{}, err
	}
	// comm may hold spaces and parentheses: fields count from the last ")".
	lp, rp := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if lp < 0 || rp < lp {
		return Proc{}, fmt.Errorf("parse %s/stat", dir)
	}
	comm := string(stat[lp+1 : rp])
	f := strings.Fields(string(stat[rp+1:]))
	// f[0] is field 3 (state): ppid is f[1], tty_nr f[4], utime f[11],
	// stime f[12], starttime f[19].
	if len(f) < 20 {
		return Proc{}, fmt.Errorf("parse %s/stat: %d fields", dir, len(f))
	}
	num := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
	p := Proc{PID: pid}
	p.PPID = int(num(1))
	ticks := num(11) + num(12)
	start := boot.Add(time.Duration(num(19)) * time.Second / clockTicks)
	if age := now.Sub(start); age > 0 {
		p.C = int(float64(ticks) / clockTicks / age.Seconds() * 100)
	}
	p.STIME = stime(start, now)
	tty, _ := strconv.ParseInt(f[4], 10, 64)
	p.TTY = ttyName(tty)
	p.TIME = cpuTime(ticks / clockTicks)
	p.UID = "?"
	if status, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		p.UID = userName(statusUID(status))
	}
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	cmdline = bytes.TrimRight(cmdline, "\x00")
	if len(cmdline) == 0 {
		p.CMD = "[" + comm + "]"
	} else {
		p.CMD = string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
	}
	return p, nil
}

// statusUID is the effective uid from /proc/PID/status ("Uid: r e s fs").
func statusUID(status []byte) string {
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				return f[1]
			}
		}
	}
	return "?"
}

// userName is the host's name for uid, as ps prints it; the number when
// the host has none (a container's own users usually).
func userName(uid string) string {
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}

// stime is ps's STIME: the clock time for a process started today, the
// month and day before.
func stime(start, now time.Time) string {
	y1, m1, d1 := start.Date()
	y2, m2, d2 := now.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return start.Format("15:04")
	}
	return start.Format("Jan02")
}

// cpuTime is ps's TIME: [DD-]HH:MM:SS of CPU.
func cpuTime(secs uint64) string {
	d, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	if d > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, h, m, s)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

// ttyName names a tty_nr: "?" for none, pts/N and ttyN for the usual
// majors, major:minor otherwise.
func ttyName(nr int64) string {
	if nr == 0 {
		return "?"
	}
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return fmt.Sprintf("pts/%d", (major-136)*256+minor)
	case major == 4 && minor < 64:
		return fmt.Sprintf("tty%d", minor)
	case major == 4:
		return fmt.Sprintf("ttyS%d", minor-64)
	}
	return fmt.Sprintf("%d:%d", major, minor)
}

// bootTime is btime of /proc/stat.
func bootTime() time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "btime "); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return time.Unix(v, 0)
		}
	}
	return time.Time{}
}
