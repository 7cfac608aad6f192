package runtime

import (
	"errors"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"pcr/cgroup"
	"pcr/internal/fmtlite"
	"pcr/runtime/internal/nsenter"
)

// child is the parent's handle on a re-exec'd init or exec process.
type child struct {
	proc *os.Process
	env  []string // the environment it was started with
	sync syncSocket
	pid  int
	// ptyMaster is set when the child sent its terminal.
	ptyMaster *os.File
	// fast: the child is the C init (fastinit.c) and takes a plan, not a config.
	fast bool
	// joinedCgroup: the child's C constructor moved it into its cgroup
	// (spawnOpts.joinCgroup); the parent need not place it by pid.
	joinedCgroup bool
	// exe is the sealed binary the child was exec'd from (exeseal.go),
	// held until the child has exec'd its payload: see releaseExe.
	exe     *os.File
	waited  bool
	state   *os.ProcessState // how it ended, once waited for
	waitErr error            // why it could not be waited for
}

// spawnOpts describe one re-exec of pcr-init (or /proc/self/exe) as `pcr init`.
type spawnOpts struct {
	ns       nsPlan
	preserve []*os.File // fds 3… in the child, kept across exec (--preserve-fds)
	fifo     *os.File   // exec.fifo, O_PATH
	env      []string
	stdin    *os.File
	stdout   *os.File
	stderr   *os.File
	cgroupFD int // v2: clone straight into the cgroup
	uidMaps  []syscall.SysProcIDMap
	gidMaps  []syscall.SysProcIDMap
	trace    *os.File
	fast     bool // run the C init (fastplan.go) instead of the Go one
	// joinCgroup: files the child writes "0" to, to move itself into its
	// cgroup (cgroup.Manager.SelfJoinFiles). We open them and pass the fds,
	// so the child needs no path or permission of its own.
	joinCgroup []string
	// sealRoot is the runtime's state root: the child runs a sealed view of
	// its binary (exeseal.go), an overlay that takes this directory as its
	// second layer.
	sealRoot string
}

// spawn starts the child. It runs the clone on a locked thread that first
// joins the parent-side namespaces, so the child inherits them; that thread
// is never unlocked and dies with its goroutine.
func spawn(o spawnOpts) (*child, error) {
	parentSock, childSock, err := newSyncPair()
	if err != nil {
		return nil, err
	}
	defer childSock.Close()

	path := initBinary()
	// A re-exec of ourselves has the C constructor only in a cgo build;
	// pcr-init always has it.
	constructor := path != selfExe || nsenter.ConstructorLinked
	if !constructor {
		o.fast = false
	}
	// The child's fds: stdio, then the preserved ones, which so keep their
	// numbers in the payload, then ours.
	stdio, err := openStdio(o.stdin, o.stdout, o.stderr)
	if err != nil {
		parentSock.Close()
		return nil, err
	}
	defer closeAll(stdio.opened)
	files := append(append(stdio.files, o.preserve...), childSock)
	syncFD := len(files) - 1
	env := append([]string{}, o.env...)
	env = append(env, "_PCR_SYNCFD="+strconv.Itoa(syncFD))
	if o.fifo != nil {
		files = append(files, o.fifo)
		env = append(env, "_PCR_FIFOFD="+strconv.Itoa(len(files)-1))
	}
	if o.trace != nil {
		files = append(files, o.trace)
		env = append(env, "_PCR_TRACEFD="+strconv.Itoa(len(files)-1))
	}
	if o.fast {
		env = append(env, fastInitEnv+"=1")
	}
	joined := false
	if constructor && len(o.joinCgroup) > 0 {
		joinFiles, fdEnv, err := openJoinFiles(o.joinCgroup, len(files))
		if err != nil {
			parentSock.Close()
			return nil, err
		}
		defer closeAll(joinFiles)
		files = append(files, joinFiles...)
		env = append(env, fdEnv)
		joined = true
	}
	// The child is exec'd from a sealed view of the binary (exeseal.go),
	// passed like the other fds so that its number in the child is known
	// whatever the fork shuffles: exec resolves /proc/self/fd/N after the
	// dups. The C constructor (or the Go init) closes it first thing.
	sealed, err := sealExe(path, o.sealRoot)
	if err != nil {
		parentSock.Close()
		return nil, err
	}
	files = append(files, sealed)
	exeFD := len(files) - 1
	exePath := "/proc/self/fd/" + strconv.Itoa(exeFD)
	env = append(env, nsenter.ExeFDEnv+"="+strconv.Itoa(exeFD))
	if len(o.ns.childJoins) > 0 || o.ns.childUnshare != 0 {
		if !constructor {
			sealed.Close()
			parentSock.Close()
			return nil, fmtlite.Errorf("joining namespaces needs %s beside this executable (a build without cgo cannot do it itself)", InitBinaryName)
		}
		joins := make([]nsenter.Join, 0, len(o.ns.childJoins))
		for _, j := range o.ns.childJoins {
			joins = append(joins, nsenter.Join{Type: j[0], Path: j[1]})
		}
		nsEnv, err := nsenter.Env(joins, o.ns.childUnshare, syncFD)
		if err != nil {
			sealed.Close()
			parentSock.Close()
			return nil, err
		}
		env = append(env, nsEnv...)
	}
	sys := &syscall.SysProcAttr{
		Cloneflags:                 o.ns.cloneFlags,
		UidMappings:                o.uidMaps,
		GidMappings:                o.gidMaps,
		GidMappingsEnableSetgroups: true,
	}
	if mapsRoot(o.uidMaps) && mapsRoot(o.gidMaps) {
		// A new user namespace keeps the caller's kuid 0, which is unmapped
		// there, so exec would drop every capability; becoming the
		// namespace's root first keeps them for init.
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	if o.cgroupFD >= 0 {
		sys.UseCgroupFD = true
		sys.CgroupFD = o.cgroupFD
	}

	// fds our caller left open without O_CLOEXEC would sit in the init until
	// its execve, readable by any process exec'd into the container through
	// /proc/<init>/fd (CVE-2024-21626); the ones it needs are in files,
	// which the fork dups without the flag.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		sealed.Close()
		parentSock.Close()
		return nil, fmtlite.Errorf("mark inherited fds close-on-exec: %w", err)
	}
	var proc *os.Process
	start := func() error {
		for _, name := range []string{"user", "ipc", "uts", "net", "pid", "cgroup", "time"} {
			path, ok := o.ns.parentJoins[name]
			if !ok {
				continue
			}
			if err := setnsPath(path, nsFlagByName(name)); err != nil {
				return fmtlite.Errorf("join %s namespace %s: %w", name, path, err)
			}
		}
		var err error
		proc, err = os.StartProcess(exePath, []string{"pcr", "init"}, &os.ProcAttr{Env: env, Files: files, Sys: sys})
		return err
	}
	if len(o.ns.parentJoins) == 0 {
		err = start() // nothing to join: no thread to taint
	} else {
		startErr := make(chan error, 1)
		go func() {
			goruntime.LockOSThread() // never unlocked: the thread is tainted
			startErr <- start()
		}()
		err = <-startErr
	}
	if err != nil {
		sealed.Close()
		parentSock.Close()
		return nil, fmtlite.Errorf("start init: %w", err)
	}
	return &child{proc: proc, env: env, sync: syncSocket{f: parentSock, limit: initMsgMax}, pid: proc.Pid, fast: o.fast, joinedCgroup: joined, exe: sealed}, nil
}

// openJoinFiles opens the cgroup files the child joins through, for
// ExtraFiles from fd first on, and names those fds for the constructor.
func openJoinFiles(paths []string, first int) ([]*os.File, string, error) {
	files := make([]*os.File, 0, len(paths))
	fds := make([]string, 0, len(paths))
	for i, p := range paths {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			closeAll(files)
			return nil, "", fmtlite.Errorf("open %s to join the cgroup: %w", p, err)
		}
		files = append(files, f)
		fds = append(fds, strconv.Itoa(first+i))
	}
	return files, nsenter.CgroupFDsEnv + "=" + strings.Join(fds, ","), nil
}

// childStdio is a child's fds 0-2: the caller's files, or /dev/null
// (opened here, for the caller to close once the child has its copy) in
// place of each one left nil, as os/exec does.
type childStdio struct {
	files  []*os.File
	opened []*os.File
}

func openStdio(stdin, stdout, stderr *os.File) (childStdio, error) {
	var s childStdio
	for i, f := range []*os.File{stdin, stdout, stderr} {
		if f == nil {
			flag := os.O_WRONLY
			if i == 0 {
				flag = os.O_RDONLY
			}
			var err error
			if f, err = os.OpenFile(os.DevNull, flag, 0); err != nil {
				closeAll(s.opened)
				return childStdio{}, err
			}
			s.opened = append(s.opened, f)
		}
		s.files = append(s.files, f)
	}
	return s, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func mapsRoot(m []syscall.SysProcIDMap) bool {
	for _, e := range m {
		if e.ContainerID == 0 && e.Size > 0 {
			return true
		}
	}
	return false
}

// setnsPath joins the namespace at path, which must be of type flag: with
// 0 the kernel would take any type, and a spec naming the ipc file for the
// cgroup namespace would silently join the wrong one.
func setnsPath(path string, flag uintptr) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, int(flag))
}

// nsFlagByName maps a /proc/<pid>/ns name to its CLONE_NEW* flag.
func nsFlagByName(name string) uintptr {
	for t, n := range nsName {
		if n == name {
			return namespaceFlags[t]
		}
	}
	return 0
}

// wait reaps the child once and remembers how it ended: its state, or
// why it could not be waited for.
func (c *child) wait() (*os.ProcessState, error) {
	if !c.waited {
		awaitExit(c.proc.Pid)
		c.state, c.waitErr = c.proc.Wait()
		c.waited = true
		// The child is gone, so it exec'd its payload or never will: ours
		// is the last reference to the sealed binary, whose release waits
		// out an RCU grace period (overlayfs drops its layers' mounts with
		// kern_unmount_array); it runs beside what the caller does next.
		go c.releaseExe()
	}
	return c.state, c.waitErr
}

// releaseExe closes the sealed binary. Whoever drops its last reference
// tears the overlay down: the parent here, off the start path, when it
// holds on until the child has exec'd its payload; the child at that exec
// when the parent lets go first (detached runs, or a parent that exits).
func (c *child) releaseExe() {
	if c.exe != nil {
		c.exe.Close()
	}
}

// ensureInCgroup checks that a child which was to join its cgroup itself
// did (a pcr-init older than this pcr ignores the fds), and places it by
// pid otherwise: a container must not run outside its limits.
func ensureInCgroup(cg cgroup.Manager, c *child) error {
	if !c.joinedCgroup {
		return nil
	}
	pids, err := cg.Pids()
	if err != nil {
		return err
	}
	if slices.Contains(pids, c.pid) {
		return nil
	}
	if err := cg.AddProc(c.pid); err != nil {
		return fmtlite.Errorf("put process %d in its cgroup: %w", c.pid, err)
	}
	return nil
}

// awaitExit returns once our child pid has exited, having waited in the
// runtime's poller on a pidfd: a wait blocked in the kernel for the whole
// life of a container keeps the scheduler handing its P between threads.
// Without pidfds it returns at once and the caller's wait blocks.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		// Ready once the process has exited; asked each time, since the
		// poller forgets a readiness it saw before this read began.
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
}

// kill stops a child that failed half-way. One already reaped is left
// alone: its pid may name another process by now.
func (c *child) kill() {
	if c.waited {
		return
	}
	unix.Kill(c.pid, unix.SIGKILL)
	if c.proc.Pid != c.pid {
		c.proc.Kill()
	}
	c.wait()
}

// deathCause explains a child that closed the socket without a word.
func (c *child) deathCause() error {
	st, err := c.wait()
	if err != nil {
		return err
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmtlite.Errorf("init was killed by %s", unix.SignalName(ws.Signal()))
	}
	if st.ExitCode() != 0 {
		return fmtlite.Errorf("init exited with status %d", st.ExitCode())
	}
	return errors.New("init exited before it was ready")
}

// errFastFallback is a C init that could not do the container; the caller
// starts the Go init instead.
type errFastFallback struct{ reason string }

func (e *errFastFallback) Error() string { return "C init fell back: " + e.reason }

// handshake drives the protocol in sync.go until the child is ready.
// onHooks runs prestart/createRuntime hooks while the child waits. A C init
// gets the plan (fastplan.go) where the Go init gets cfg.
func (c *child) handshake(cfg *initConfig, onPid func(int) error, onHooks func() error) error {
	sentConfig := false
	sendConfig := func() error {
		sentConfig = true
		if c.fast {
			plan, err := buildFastPlan(cfg)
			if err != nil {
				plan = refusalPlan(cfg, err)
			}
			if err := c.sync.sendmsg(plan, nil); err != nil {
				return fmtlite.Errorf("send plan to init: %w", err)
			}
			return nil
		}
		if err := c.sync.send(syncMsg{Type: msgConfig, Config: cfg.encode()}); err != nil {
			return fmtlite.Errorf("send config to init: %w", err)
		}
		return nil
	}
	// Without a constructor fork the pid is known now.
	if err := onPid(c.pid); err != nil {
		return err
	}
	if !c.mayForkInC() {
		if err := sendConfig(); err != nil {
			return err
		}
	}
	for {
		m, fds, err := c.sync.recv()
		if err != nil {
			if errors.Is(err, errSyncEOF) || errors.Is(err, unix.ECONNRESET) {
				return c.deathCause()
			}
			return fmtlite.Errorf("read from init: %w", err)
		}
		switch m.Type {
		case msgError:
			c.wait()
			msg := strings.TrimPrefix(m.Error, "pcr init: ")
			switch m.ExecFailed {
			case execNotFound:
				return &ExecError{msg: msg, kind: ErrCommandNotFound}
			case execCannot:
				return &ExecError{msg: msg, kind: ErrCommandCannotExecute}
			}
			return errors.New(msg)
		case msgFallback:
			c.wait()
			return &errFastFallback{reason: m.Error}
		case msgPid:
			c.pid = m.Pid
			if err := onPid(c.pid); err != nil {
				return err
			}
			if !sentConfig {
				if err := sendConfig(); err != nil {
					return err
				}
			}
		case msgHooks:
			if onHooks != nil {
				if err := onHooks(); err != nil {
					return err
				}
			}
			if err := c.sync.send(syncMsg{Type: msgHooksDone}); err != nil {
				return fmtlite.Errorf("resume init after hooks: %w", err)
			}
		case msgPty:
			if len(fds) != 1 {
				return errors.New("init sent a terminal without its fd")
			}
			c.ptyMaster = os.NewFile(uintptr(fds[0]), "pty-master")
		case msgReady:
			if !sentConfig {
				return errors.New("init ready before it got its config")
			}
			return nil
		default:
			return fmtlite.Errorf("unexpected message %q from init", m.Type)
		}
	}
}

// mayForkInC says whether the nsenter constructor forks (a pid join, or a
// new pid/time namespace unshared after a user namespace join), in which
// case the real pid arrives as a message before the config is sent.
func (c *child) mayForkInC() bool {
	for _, e := range c.env {
		if v, ok := strings.CutPrefix(e, nsenter.NsenterEnv+"="); ok && strings.Contains(","+v, ",pid:") {
			return true
		}
		if v, ok := strings.CutPrefix(e, nsenter.UnshareEnv+"="); ok {
			if f, err := strconv.ParseUint(v, 10, 64); err == nil && f&(unix.CLONE_NEWPID|unix.CLONE_NEWTIME) != 0 {
				return true
			}
		}
	}
	return false
}

// exitStatus turns a wait result into a shell-style status: 128+N for a
// process killed by signal N, 255 when it could not be waited for.
func exitStatus(st *os.ProcessState, err error) int {
	if err != nil {
		return 255
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
