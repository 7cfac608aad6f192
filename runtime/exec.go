package runtime

import (
	"errors"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/cgroup"
	"pcr/internal/fmtlite"
)

// ExecOpts are runc's exec flags once the process is built.
type ExecOpts struct {
	Process               *specs.Process
	PidFile               string
	ConsoleSocket         string
	KeepTerminal          bool
	Stdin, Stdout, Stderr *os.File
	PreserveFDs           int
}

// Process is an exec'd process; only the exec'ing pcr can wait for it.
type Process struct {
	Pid       int
	PtyMaster *os.File
	child     *child
}

// Wait returns the exit status like a shell: 128+N when killed by signal N.
func (p *Process) Wait() int { return exitStatus(p.child.wait()) }

// Wait waits for the init of a container this process created (run).
func (c *Container) Wait() int { return exitStatus(c.init.wait()) }

// Exec runs a new process inside a running container's namespaces and cgroup.
func (r *Runtime) Exec(id string, o ExecOpts) (*Process, error) {
	if err := r.checkInitBinary(); err != nil {
		return nil, err
	}
	st, err := r.Load(id)
	if err != nil {
		return nil, err
	}
	if st.Status != StatusRunning && st.Status != StatusCreated {
		return nil, fmtlite.Errorf("cannot exec in a %s container", st.Status)
	}
	proc := o.Process
	if proc == nil || len(proc.Args) == 0 {
		return nil, errors.New("exec: no command given")
	}
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	if proc.Terminal && o.ConsoleSocket == "" && !o.KeepTerminal {
		return nil, errors.New("exec with a terminal needs --console-socket when detached")
	}
	// Join every namespace the init has: mount, user and cgroup in the C
	// constructor, the others from a locked thread of ours. The cgroup
	// namespace waits for the child: clone3(CLONE_INTO_CGROUP) is checked
	// against the caller's cgroup namespace, and on a cgroup2 mounted with
	// nsdelegate the kernel refuses (ENOENT) to move a process from outside
	// that namespace's root, which our cgroup is.
	cspec, err := st.Spec()
	if err != nil {
		return nil, fmtlite.Errorf("exec in %s: %w", id, err)
	}
	if cspec == nil || cspec.Linux == nil {
		return nil, fmtlite.Errorf("exec in %s: its record holds no config", id)
	}
	var ns nsPlan
	ns.parentJoins = map[string]string{}
	base := "/proc/" + strconv.Itoa(st.Pid) + "/ns/"
	userns := false
	for _, n := range cspec.Linux.Namespaces {
		name := nsName[n.Type]
		path := base + name
		if n.Type == specs.UserNamespace {
			userns = true
		}
		switch n.Type {
		case specs.UserNamespace, specs.MountNamespace, specs.CgroupNamespace:
			ns.childJoins = append(ns.childJoins, [2]string{name, path})
		case specs.TimeNamespace:
			continue // joined through pid_for_children semantics; rare, skip
		default:
			ns.parentJoins[name] = path
		}
	}
	// The user namespace must come first so the others are joinable in it.
	for i, j := range ns.childJoins {
		if j[0] == "user" && i != 0 {
			ns.childJoins[0], ns.childJoins[i] = ns.childJoins[i], ns.childJoins[0]
		}
	}
	cg, err := cgroup.Load(st.Cgroup)
	if err != nil {
		return nil, err
	}
	cgFD, err := cg.FD()
	if err != nil {
		return nil, err
	}
	if cgFD >= 0 {
		defer unix.Close(cgFD)
	}
	so := spawnOpts{ns: ns, stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr, cgroupFD: cgFD, sealRoot: r.Root}
	if cgFD < 0 {
		so.joinCgroup = cg.SelfJoinFiles() // as create does
	}
	if r.Trace.Enabled() {
		so.trace = os.Stderr
	}
	if proc.Terminal {
		so.stdin, so.stdout, so.stderr = nil, nil, nil
	}
	for i := 0; i < o.PreserveFDs; i++ {
		so.preserve = append(so.preserve, os.NewFile(uintptr(3+i), "preserved"))
	}
	spec := *cspec
	spec.Process = proc
	ch, err := spawn(so)
	if err != nil {
		return nil, err
	}
	cfg := &initConfig{Exec: true, ID: id, Bundle: st.Bundle, Spec: &spec, UserNS: userns, PreserveFDs: o.PreserveFDs}
	onPid := func(pid int) error {
		if cgFD < 0 && !ch.joinedCgroup {
			return cg.AddProc(pid)
		}
		return nil
	}
	if err := ch.handshake(cfg, onPid, nil); err != nil {
		ch.kill()
		return nil, fmtlite.Errorf("exec in %s: %w", id, err)
	}
	if err := ensureInCgroup(cg, ch); err != nil {
		ch.kill()
		return nil, fmtlite.Errorf("exec in %s: %w", id, err)
	}
	ch.sync.f.Close()
	p := &Process{Pid: ch.pid, child: ch}
	if ch.ptyMaster != nil {
		if o.ConsoleSocket != "" {
			err := sendConsole(o.ConsoleSocket, ch.ptyMaster)
			ch.ptyMaster.Close()
			if err != nil {
				return nil, err
			}
		} else {
			p.PtyMaster = ch.ptyMaster
		}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, ch.pid); err != nil {
			return nil, err
		}
	}
	return p, nil
}
