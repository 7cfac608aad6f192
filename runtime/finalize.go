package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
	"pcr/runtime/internal/caps"
	"pcr/runtime/internal/seccomp"
)

// final is the last stage of a child: everything is resolved first (so
// errors still reach `pcr create`), then applied in an order the kernel
// allows: oom score and rlimits while still privileged, seccomp before
// losing CAP_SYS_ADMIN unless no_new_privs, user + capabilities, exec.
type final struct {
	proc     *specs.Process
	path     string
	env      []string
	seccomp  []unix.SockFilter
	scFlags  []specs.LinuxSeccompFlag
	caps     *caps.Sets // nil: the process keeps the capabilities it has
	lastCap  int        // the kernel's highest capability, when caps is set
	preserve int
}

func (p *initProc) prepareFinal(proc *specs.Process) (*final, error) {
	f := &final{proc: proc, env: proc.Env, preserve: p.cfg.PreserveFDs}
	if !hasEnv(f.env, "HOME") {
		f.env = append(f.env, "HOME="+homeOf(proc.User.UID))
	}
	path, err := lookPath(proc.Args[0], f.env, proc.Cwd)
	if err != nil {
		return nil, &ExecError{msg: err.Error(), kind: execKind(err)}
	}
	f.path = path
	if proc.Capabilities != nil {
		f.caps, f.lastCap, err = parseCaps(proc.Capabilities, p.warn)
		if err != nil {
			return nil, err
		}
	}
	if sc := p.cfg.Spec.Linux.Seccomp; sc != nil {
		f.seccomp, err = seccomp.Compile(sc)
		if err != nil {
			return nil, fmtlite.Errorf("seccomp: %w", err)
		}
		f.scFlags = sc.Flags
	}
	return f, nil
}

func (p *initProc) warn(format string, args ...any) {
	fmtlite.Fprintf(os.Stderr, "pcr: warning: "+format+"\n", args...)
}

func (f *final) dropPrivileges() error {
	proc := f.proc
	// Every fd above stdio and the preserved ones is closed on exec, so
	// nothing of pcr leaks into the container (CVE-2024-21626). Marked here,
	// before any seccomp filter is loaded: a profile older than close_range
	// (e.g. runtime-tools' default) would otherwise make it fail with EPERM.
	// Every fd init opens from here on is O_CLOEXEC already.
	if err := unix.CloseRange(uint(3+f.preserve), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmtlite.Errorf("close fds: %w", err)
	}
	if proc.OOMScoreAdj != nil {
		v := strconv.Itoa(*proc.OOMScoreAdj)
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0); err != nil {
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				return fmtlite.Errorf("set oomScoreAdj %s: %w (lowering it needs CAP_SYS_RESOURCE)", v, err)
			}
			return fmtlite.Errorf("set oomScoreAdj %s: %w", v, err)
		}
	}
	for _, rl := range proc.Rlimits {
		if err := setRlimit(rl); err != nil {
			return err
		}
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmtlite.Errorf("set no_new_privs: %w", err)
		}
	} else if f.seccomp != nil {
		// Without no_new_privs loading a filter needs CAP_SYS_ADMIN, which
		// the user switch below may drop.
		if err := seccomp.Load(f.seccomp, f.scFlags); err != nil {
			return fmtlite.Errorf("load seccomp filter: %w", err)
		}
	}
	if err := f.setUserAndCaps(); err != nil {
		return err
	}
	if err := unix.Chdir(proc.Cwd); err != nil {
		return fmtlite.Errorf("chdir to cwd %q: %w", proc.Cwd, err)
	}
	if proc.User.Umask != nil {
		unix.Umask(int(*proc.User.Umask))
	}
	return nil
}

func (f *final) setUserAndCaps() error {
	u := f.proc.User
	c := f.caps
	if c != nil {
		if err := c.ApplyBounding(f.lastCap); err != nil {
			return fmtlite.Errorf("drop bounding capabilities: %w", err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmtlite.Errorf("keep capabilities across setuid: %w", err)
		}
	}
	gids := make([]int, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		gids = append(gids, int(g))
	}
	if err := unix.Setgroups(gids); err != nil {
		return fmtlite.Errorf("setgroups %v: %w", gids, err)
	}
	// Raw syscalls: Go's Setuid would try to switch every thread, and only
	// this locked thread will exec.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmtlite.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmtlite.Errorf("setuid %d: %w", u.UID, e)
	}
	if c != nil {
		unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
		if err := c.ApplyCaps(); err != nil {
			return fmtlite.Errorf("set capabilities: %w", err)
		}
		if err := c.ApplyAmbient(f.lastCap); err != nil {
			return fmtlite.Errorf("set ambient capabilities: %w", err)
		}
	}
	return nil
}

// exec replaces init with the payload; dropPrivileges already marked the
// fds that must not reach it close-on-exec.
func (f *final) exec(t *Tracer) error {
	if f.proc.NoNewPrivileges && f.seccomp != nil {
		if err := seccomp.Load(f.seccomp, f.scFlags); err != nil {
			return fmtlite.Errorf("load seccomp filter: %w", err)
		}
	}
	t.Stage("execve %s", f.path)
	err := unix.Exec(f.path, f.proc.Args, f.env)
	return &ExecError{msg: fmtlite.Sprintf("exec %s: %v", f.proc.Args[0], err), kind: execKind(err)}
}

// ErrCommandNotFound and ErrCommandCannotExecute say why a payload could
// not be exec'd, so an engine can exit 127 or 126 as Docker does.
var (
	ErrCommandNotFound      = errors.New("command not found")
	ErrCommandCannotExecute = errors.New("command cannot be executed")
)

const (
	execNotFound = "not-found"
	execCannot   = "cannot-exec"
)

// ExecError is a failed exec of the payload; errors.Is matches its kind.
type ExecError struct {
	msg  string
	kind error
}

func (e *ExecError) Error() string { return e.msg }
func (e *ExecError) Unwrap() error { return e.kind }

func execKind(err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, errNotInPath) {
		return ErrCommandNotFound
	}
	return ErrCommandCannotExecute
}

// execFailure is the wire form of an ExecError's kind; "" for other errors.
func execFailure(err error) string {
	switch {
	case errors.Is(err, ErrCommandNotFound):
		return execNotFound
	case errors.Is(err, ErrCommandCannotExecute):
		return execCannot
	}
	return ""
}

var errNotInPath = errors.New("executable file not found in $PATH")

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

func setRlimit(rl specs.POSIXRlimit) error {
	res, ok := rlimitNames[rl.Type]
	if !ok {
		return fmtlite.Errorf("rlimit %q: unknown type", rl.Type)
	}
	if rl.Soft > rl.Hard {
		return fmtlite.Errorf("rlimit %s: soft %d above hard %d", rl.Type, rl.Soft, rl.Hard)
	}
	err := unix.Setrlimit(res, &unix.Rlimit{Cur: rl.Soft, Max: rl.Hard})
	if errors.Is(err, unix.EPERM) {
		var cur unix.Rlimit
		unix.Getrlimit(res, &cur)
		return fmtlite.Errorf("rlimit %s soft=%d hard=%d: %w: raising the hard limit above %d needs CAP_SYS_RESOURCE, which this host does not grant", rl.Type, rl.Soft, rl.Hard, err, cur.Max)
	}
	if err != nil {
		return fmtlite.Errorf("rlimit %s soft=%d hard=%d: %w", rl.Type, rl.Soft, rl.Hard, err)
	}
	return nil
}

// parseCaps turns the spec's capability names into sets, with the running
// kernel's highest capability, which applying them needs.
func parseCaps(c *specs.LinuxCapabilities, warn func(string, ...any)) (*caps.Sets, int, error) {
	last, err := caps.LastCap()
	if err != nil {
		return nil, 0, err
	}
	// runc ignores caps the kernel does not know, for forward compatibility.
	ignore := func(n string) error {
		warn("capability %s is unknown to this kernel, ignored", n)
		return nil
	}
	s := &caps.Sets{}
	// ignore never fails, so neither does Mask. The order is the order of
	// the warnings: bounding, effective, permitted, inheritable, ambient.
	s.Bounding, _ = caps.Mask(c.Bounding, last, ignore)
	s.Effective, _ = caps.Mask(c.Effective, last, ignore)
	s.Permitted, _ = caps.Mask(c.Permitted, last, ignore)
	s.Inheritable, _ = caps.Mask(c.Inheritable, last, ignore)
	s.Ambient, _ = caps.Mask(c.Ambient, last, ignore)
	return s, last, nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// homeOf reads the container's /etc/passwd; "/" when the uid has no entry.
func homeOf(uid uint32) string {
	if fields, ok := passwdEntry("/etc/passwd", strconv.FormatUint(uint64(uid), 10)); ok && fields[5] != "" {
		return fields[5]
	}
	return "/"
}

// lookPath resolves the payload in the container with the container's PATH.
func lookPath(arg string, env []string, cwd string) (string, error) {
	check := func(p string) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmtlite.Errorf("%s is a directory: %w", p, unix.EACCES)
		}
		if fi.Mode()&0o111 == 0 {
			return fmtlite.Errorf("%s: %w", p, unix.EACCES)
		}
		return nil
	}
	if strings.Contains(arg, "/") {
		p := arg
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if err := check(p); err != nil {
			return "", fmtlite.Errorf("exec %q: %w", arg, err)
		}
		return p, nil
	}
	pathEnv := ""
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			pathEnv = e[5:]
		}
	}
	var firstErr error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, arg)
		err := check(p)
		if err == nil {
			return p, nil
		}
		if firstErr == nil && !errors.Is(err, os.ErrNotExist) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", fmtlite.Errorf("exec %q: %w", arg, firstErr)
	}
	return "", fmtlite.Errorf("exec %q: %w", arg, errNotInPath)
}
