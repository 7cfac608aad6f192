package cgroup

import (
	"strings"

	"pcr/internal/fmtlite"
)

// cgroupMount is one cgroup or cgroup2 line of /proc/self/mountinfo.
type cgroupMount struct {
	Root       string // the directory of the hierarchy that is mounted ("/": all of it)
	Mountpoint string
	FSType     string // "cgroup" or "cgroup2"
	Options    string // the super options, where v1 names its controllers
}

// parseCgroupMounts picks the cgroup and cgroup2 mounts out of the text of a
// mountinfo file (proc(5)):
//
//	36 35 98:0 /root /mnt rw,noatime master:1 - cgroup cgroup rw,memory
//
// DetectHost reads /proc/self/mountinfo itself rather than through a mount
// table library: those read /proc/thread-self with the OS thread locked, and
// the first lock starts the Go runtime's template thread, which walks and
// records the stack that made it, on every container operation (pcr-oci run
// then peaks higher and starts slower). /proc/self is the thread group
// leader's table, the host's view that cgroup paths are resolved against,
// whatever namespace a locked thread may have entered.
func parseCgroupMounts(text string) ([]cgroupMount, error) {
	var mounts []cgroupMount
	for n := 1; text != ""; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		// Most lines are other filesystems: skip them without splitting.
		if !strings.Contains(line, " - cgroup") {
			continue
		}
		// Single spaces, not strings.Fields: an empty source ("mount -t
		// cgroup2 '' dir") is an empty field the kernel still separates.
		fields := strings.Split(line, " ")
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 {
			return nil, fmtlite.Errorf("mountinfo line %d: %q is not id parent dev root mountpoint options [optional...] - fstype source superoptions", n, line)
		}
		fstype := fields[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		mounts = append(mounts, cgroupMount{
			Root:       unescapeMountField(fields[3]),
			Mountpoint: unescapeMountField(fields[4]),
			FSType:     fstype,
			Options:    fields[sep+3],
		})
	}
	return mounts, nil
}

// unescapeMountField undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a path of mountinfo.
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
