package nsenter

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
	"pcr/internal/jsonlite"
)

// Environment variables read by the constructor in nsenter.c.
const (
	NsenterEnv = "_PCR_NSENTER"
	UnshareEnv = "_PCR_UNSHARE"
	// SyncFDEnv stays set after the constructor ran: the Go side of the
	// re-exec'd process reports on the same fd.
	SyncFDEnv = "_PCR_SYNCFD"
	// CgroupFDsEnv lists fds, comma-separated, of cgroup files (v1 tasks)
	// the constructor writes "0" to once its joins are done: the process
	// moves itself into its cgroup while it is one thread, which skips the
	// global lock a move by pid takes (see cgroup.Manager.SelfJoinFiles).
	CgroupFDsEnv = "_PCR_CGROUP_FDS"
	// ExeFDEnv names the fd of the sealed binary the process was exec'd
	// from (/proc/self/fd/N): the constructor closes it, and names the
	// process after its binary again, which exec named N.
	ExeFDEnv = "_PCR_EXEFD"
)

// Join names an existing namespace to enter: Type is one of user, mnt, net,
// uts, ipc, pid, cgroup, time (the names under /proc/<pid>/ns), Path any file
// that opens as that namespace, e.g. /proc/123/ns/mnt or a bind mount of it.
type Join struct {
	Type string
	Path string
}

// knownType reports whether the constructor can join a namespace type.
func knownType(t string) bool {
	switch t {
	case "user", "mnt", "net", "uts", "ipc", "pid", "cgroup", "time":
		return true
	}
	return false
}

// unshareable is what _PCR_UNSHARE may ask for: every namespace but user,
// which the parent creates so it can write the ID maps.
const unshareable = unix.CLONE_NEWNS | unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Env returns the environment entries that make the constructor join joins,
// then unshare unshareFlags, in a re-exec'd pcr process. syncFD is the fd
// number the child will see for its sync pipe or socket (e.g. 3 for the
// first of exec.Cmd.ExtraFiles); a negative syncFD leaves it out, and errors
// then go to the child's stderr. With no joins and no flags it returns nil.
//
// The process started with it must have the constructor linked: pcr-init
// always has; a binary that re-execs itself has it when its ConstructorLinked
// is true.
func Env(joins []Join, unshareFlags uintptr, syncFD int) ([]string, error) {
	seen := make(map[string]bool, len(joins))
	entries := make([]string, 0, len(joins))
	for _, j := range joins {
		if !knownType(j.Type) {
			return nil, fmtlite.Errorf("nsenter: join %s %q: unknown namespace type", j.Type, j.Path)
		}
		if seen[j.Type] {
			return nil, fmtlite.Errorf("nsenter: join %s %q: namespace type given twice", j.Type, j.Path)
		}
		seen[j.Type] = true
		// The constructor splits on commas and has no escape for them.
		if j.Path == "" || strings.ContainsAny(j.Path, ",\x00") {
			return nil, fmtlite.Errorf("nsenter: join %s %q: path must be non-empty without commas or NUL", j.Type, j.Path)
		}
		entries = append(entries, j.Type+":"+j.Path)
	}
	if unshareFlags&^unshareable != 0 {
		return nil, fmtlite.Errorf("nsenter: unshare flags %#x: only CLONE_NEW{NS,NET,UTS,IPC,PID,CGROUP,TIME} are allowed (user namespaces are created by the parent)", unshareFlags)
	}
	if len(entries) == 0 && unshareFlags == 0 {
		return nil, nil
	}
	var env []string
	if len(entries) > 0 {
		env = append(env, NsenterEnv+"="+strings.Join(entries, ","))
	}
	if unshareFlags != 0 {
		env = append(env, UnshareEnv+"="+strconv.FormatUint(uint64(unshareFlags), 10))
	}
	if syncFD >= 0 {
		env = append(env, SyncFDEnv+"="+strconv.Itoa(syncFD))
	}
	return env, nil
}

// Message is one JSON line the constructor writes to the sync fd: Type "pid"
// with the forked child's Pid (as the caller sees it) or Type "error".
type Message struct {
	Type  string `json:"type"`
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// ParseMessage decodes one sync-fd line written by the constructor.
func ParseMessage(line []byte) (Message, error) {
	v, err := jsonlite.Parse(line)
	if err != nil {
		return Message{}, fmtlite.Errorf("nsenter: parse sync message %q: %w", line, err)
	}
	obj, _ := v.(map[string]any)
	var m Message
	m.Type, _ = obj["type"].(string)
	m.Error, _ = obj["error"].(string)
	if n, ok := obj["pid"].(jsonlite.Number); ok {
		if m.Pid, err = strconv.Atoi(string(n)); err != nil {
			return Message{}, fmtlite.Errorf("nsenter: parse sync message %q: bad pid", line)
		}
	}
	switch m.Type {
	case "pid":
		if m.Pid <= 0 {
			return Message{}, fmtlite.Errorf("nsenter: parse sync message %q: bad pid", line)
		}
	case "error":
	default:
		return Message{}, fmtlite.Errorf("nsenter: parse sync message %q: unknown type %q", line, m.Type)
	}
	return m, nil
}
