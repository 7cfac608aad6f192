package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

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
	caps     map[capability.CapType][]capability.Cap
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
		f.caps, err = parseCaps(proc.Capabilities, p.warn)
		if err != nil {
			return nil, err
		}
	}
	if sc := p.cfg.Spec.Linux.Seccomp; sc != nil {
		f.seccomp, err = seccomp.Compile(sc)
		if err != nil {
			return nil, fmt.Errorf("seccomp: %w", err)
		}
		f.scFlags = sc.Flags
	}
	return f, nil
}

func (p *initProc) warn(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pcr: warning: "+format+"\n", args...)
}

func (f *final) dropPrivileges() error {
	proc := f.proc
	// Every fd above stdio and the preserved ones is closed on exec, so
	// nothing of pcr leaks into the container (CVE-2024-21626). Marked here,
	// before any seccomp filter is loaded: a profile older than close_range
	// (e.g. runtime-tools' default) would otherwise make it fail with EPERM.
	// Every fd init opens from here on is O_CLOEXEC already.
	if err := unix.CloseRange(uint(3+f.preserve), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close fds: %w", err)
	}
	if proc.OOMScoreAdj != nil {
		v := strconv.Itoa(*proc.OOMScoreAdj)
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(v), 0); err != nil {
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				return fmt.Errorf("set oomScoreAdj %s: %w (lowering it needs CAP_SYS_RESOURCE)", v, err)
			}
			return fmt.Errorf("set oomScoreAdj %s: %w", v, err)
		}
	}
	for _, rl := range proc.Rlimits {
		if err := setRlimit(rl); err != nil {
			return err
		}
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	} else if f.seccomp != nil {
		// Without no_new_privs loading a filter needs CAP_SYS_ADMIN, which
		// the user switch below may drop.
		if err := seccomp.Load(f.seccomp, f.scFlags); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
	}
	if err := f.setUserAndCaps(); err != nil {
		return err
	}
	if err := unix.Chdir(proc.Cwd); err != nil {
		return fmt.Errorf("chdir to cwd %q: %w", proc.Cwd, err)
	}
	if proc.User.Umask != nil {
		unix.Umask(int(*proc.User.Umask))
	}
	return nil
}

func (f *final) setUserAndCaps() error {
	u := f.proc.User
	var c capability.Capabilities
	if f.caps != nil {
		var err error
		if c, err = capability.NewPid2(0); err != nil {
			return fmt.Errorf("read capabilities: %w", err)
		}
		c.Clear(capability.CAPS | capability.BOUNDS | capability.AMBS)
		for t, list := range f.caps {
			c.Set(t, list...)
		}
		if err := c.Apply(capability.BOUNDS); err != nil {
			return fmt.Errorf("drop bounding capabilities: %w", err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("keep capabilities across setuid: %w", err)
		}
	}
	gids := make([]int, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		gids = append(gids, int(g))
	}
	if err := unix.Setgroups(gids); err != nil {
		return fmt.Errorf("setgroups %v: %w", gids, err)
	}
	// Raw syscalls: Go's Setuid would try to switch every thread, and only
	// this locked thread will exec.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	if c != nil {
		unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
		if err := c.Apply(capability.CAPS); err != nil {
			return fmt.Errorf("set capabilities: %w", err)
		}
		if err := c.Apply(capability.AMBS); err != nil {
			return fmt.Errorf("set ambient capabilities: %w", err)
		}
	}
	return nil
}

// exec replaces init with the payload; dropPrivileges already marked the
// fds that must not reach it close-on-exec.
func (f *final) exec(t *Tracer) error {
	if f.proc.NoNewPrivileges && f.seccomp != nil {
		if err := seccomp.Load(f.seccomp, f.scFlags); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
	}
	t.Stage("execve %s", f.path)
	err := unix.Exec(f.path, f.proc.Args, f.env)
	return &ExecError{msg: fmt.Sprintf("exec %s: %v", f.proc.Args[0], err), kind: execKind(err)}
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
		return fmt.Errorf("rlimit %q: unknown type", rl.Type)
	}
	if rl.Soft > rl.Hard {
		return fmt.Errorf("rlimit %s: soft %d above hard %d", rl.Type, rl.Soft, rl.Hard)
	}
	err := unix.Setrlimit(res, &unix.Rlimit{Cur: rl.Soft, Max: rl.Hard})
	if errors.Is(err, unix.EPERM) {
		var cur unix.Rlimit
		unix.Getrlimit(res, &cur)
		return fmt.Errorf("rlimit %s soft=%d hard=%d: %w: raising the hard limit above %d needs CAP_SYS_RESOURCE, which this host does not grant", rl.Type, rl.Soft, rl.Hard, err, cur.Max)
	}
	if err != nil {
		return fmt.Errorf("rlimit %s soft=%d hard=%d: %w", rl.Type, rl.Soft, rl.Hard, err)
	}
	return nil
}

func parseCaps(c *specs.LinuxCapabilities, warn func(string, ...any)) (map[capability.CapType][]capability.Cap, error) {
	known := map[string]capability.Cap{}
	last, _ := capability.LastCap()
	for _, cp := range capability.List() {
		if cp <= last {
			known["CAP_"+strings.ToUpper(cp.String())] = cp
		}
	}
	conv := func(names []string) []capability.Cap {
		out := make([]capability.Cap, 0, len(names))
		for _, n := range names {
			if cp, ok := known[strings.ToUpper(n)]; ok {
				out = append(out, cp)
			} else {
				// runc ignores caps the kernel does not know, for forward compatibility.
				warn("capability %s is unknown to this kernel, ignored", n)
			}
		}
		return out
	}
	return map[capability.CapType][]capability.Cap{
		capability.BOUNDING:    conv(c.Bounding),
		capability.EFFECTIVE:   conv(c.Effective),
		capability.PERMITTED:   conv(c.Permitted),
		capability.INHERITABLE: conv(c.Inheritable),
		capability.AMBIENT:     conv(c.Ambient),
	}, nil
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
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return "/"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	want := strconv.FormatUint(uint64(uid), 10)
	for s.Scan() {
		fields := strings.Split(s.Text(), ":")
		if len(fields) >= 6 && fields[2] == want && fields[5] != "" {
			return fields[5]
		}
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
			return fmt.Errorf("%s is a directory: %w", p, unix.EACCES)
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s: %w", p, unix.EACCES)
		}
		return nil
	}
	if strings.Contains(arg, "/") {
		p := arg
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if err := check(p); err != nil {
			return "", fmt.Errorf("exec %q: %w", arg, err)
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
		return "", fmt.Errorf("exec %q: %w", arg, firstErr)
	}
	return "", fmt.Errorf("exec %q: %w", arg, errNotInPath)
}
