package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/cgroup"
	"pcr/internal/atomicfile"
	"pcr/internal/fmtlite"
)

// CreateOpts are runc's create flags.
type CreateOpts struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	// Stdio of the container's process when it has no terminal.
	Stdin, Stdout, Stderr *os.File
	// KeepTerminal: `run` in the foreground proxies the pty itself instead
	// of handing it to a console socket.
	KeepTerminal bool
	PreserveFDs  int
	// Spec is the bundle's config.json, parsed, when the caller has it in
	// hand (it wrote the file): Create validates it and reads no file.
	Spec *specs.Spec
	// BeforeSpawn, when set, runs once the cgroup exists and before the
	// init is started: the last moment to change the spec's namespace
	// paths (the engine sets the network namespace it made meanwhile).
	// An error undoes the create.
	BeforeSpawn func(*specs.Spec) error
}

// Container is a created container together with the handle on its init,
// which only the creating process has (run uses it to wait).
type Container struct {
	State     *State
	init      *child
	PtyMaster *os.File
}

// Create sets up a container and leaves its init waiting on exec.fifo.
// On any failure everything made so far is undone.
func (r *Runtime) Create(o CreateOpts) (c *Container, err error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	if err := r.checkInitBinary(); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, fmtlite.Errorf("bundle %s: %w", o.Bundle, err)
	}
	spec, specJSON := o.Spec, []byte(nil)
	if spec == nil {
		spec, specJSON, err = loadSpec(bundle)
	} else if err = ValidateSpec(spec); err != nil {
		err = fmtlite.Errorf("%s: %w", filepath.Join(bundle, "config.json"), err)
	}
	if err != nil {
		return nil, err
	}
	r.Trace.Stage("config.json loaded and validated")
	if spec.Process.Terminal && o.ConsoleSocket == "" && !o.KeepTerminal {
		return nil, errors.New("process.terminal is true: --console-socket is required")
	}
	if !spec.Process.Terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket given but process.terminal is false")
	}
	if err := checkSecurityFields(spec, r); err != nil {
		return nil, err
	}
	ns, err := planNamespaces(spec)
	if err != nil {
		return nil, err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return nil, fmtlite.Errorf("root.path: %w", err)
	} else if !fi.IsDir() {
		return nil, fmtlite.Errorf("root.path %s is not a directory", rootfs)
	}

	dir := r.dir(o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmtlite.Errorf("container %s: %w", o.ID, ErrExist)
		}
		return nil, fmtlite.Errorf("create state dir %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer unlock()

	st := &State{
		OCIVersion: spec.Version, ID: o.ID, Bundle: bundle, Rootfs: rootfs,
		Created: time.Now().UTC(), Annotations: spec.Annotations,
		OwnPidNS: hasNS(spec, specs.PIDNamespace) && nsPath(spec, specs.PIDNamespace) == "",
		Config:   specJSON, spec: spec, dir: dir, Status: StatusCreating,
	}
	if specJSON == nil {
		if err := st.setSpec(spec); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	var cg cgroup.Manager
	var init *child
	defer func() {
		if err == nil {
			return
		}
		if init != nil {
			init.kill()
		}
		if cg != nil {
			cg.Delete()
		}
		os.RemoveAll(dir)
	}()

	if err := unix.Mkfifo(st.fifoPath(), 0o622); err != nil {
		return nil, fmtlite.Errorf("create exec fifo: %w", err)
	}
	// The umask would strip the world-write bit, and init opens the fifo
	// for writing after it has switched to process.user.
	if err := os.Chmod(st.fifoPath(), 0o622); err != nil {
		return nil, fmtlite.Errorf("chmod exec fifo: %w", err)
	}
	cg, err = cgroup.New(spec.Linux.CgroupsPath, o.ID)
	if err != nil {
		return nil, fmtlite.Errorf("cgroup for %s: %w", o.ID, err)
	}
	st.Cgroup = cg.State()
	// Recorded before Apply makes them: a create killed half-way must leave
	// delete the list of what to remove (removing a missing one is a no-op).
	st.Cgroup.Created = missingDirs(st.Cgroup.Paths)
	if spec.Linux.CgroupsPath == "" {
		// pcr's shared parent too, as Apply will record it: the last
		// delete removes it, even after a create killed before onPid.
		st.Cgroup.Created = cgroup.WithSharedParents(st.Cgroup.Created, st.Cgroup.Paths)
	}
	if err := st.save(); err != nil {
		return nil, err
	}

	fifo, err := os.OpenFile(st.fifoPath(), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmtlite.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()
	so := spawnOpts{
		ns: ns, fifo: fifo, sealRoot: r.Root,
		stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr, cgroupFD: -1,
		uidMaps: idMaps(spec.Linux.UIDMappings), gidMaps: idMaps(spec.Linux.GIDMappings),
	}
	if r.Trace.Enabled() {
		so.trace = os.Stderr
	}
	if spec.Process.Terminal {
		so.stdin, so.stdout, so.stderr = nil, nil, nil
	}
	for i := 0; i < o.PreserveFDs; i++ {
		so.preserve = append(so.preserve, os.NewFile(uintptr(3+i), "preserved"))
	}
	res := specs.LinuxResources{}
	if spec.Linux.Resources != nil {
		res = *spec.Linux.Resources
	}
	res.Devices = cgroupDevices(spec)
	if err := cg.Apply(&res); err != nil {
		return nil, fmtlite.Errorf("create container %s: %w", o.ID, err)
	}
	st.Cgroup = cg.State()
	r.Trace.Stage("cgroup created and limits written (%s)", cgroup.Mode())
	if o.BeforeSpawn != nil {
		if err := o.BeforeSpawn(spec); err != nil {
			return nil, err
		}
		if err := st.setSpec(spec); err != nil {
			return nil, err
		}
		if ns, err = planNamespaces(spec); err != nil {
			return nil, err
		}
		so.ns = ns
	}
	if why := fastInitRefusal(spec, o); why != "" {
		r.Trace.Stage("the Go init will set the container up: %s", why)
	} else {
		so.fast = true
	}
	// The init enters its cgroup as it starts: v2 clones it straight in;
	// on v1 its C constructor, still one thread, moves itself in through
	// files we open for it (a pid written to cgroup.procs costs 10 ms and
	// more here). Only a child without the constructor, or one in a cgroup
	// namespace the spawning thread joined, is placed by pid: with
	// nsdelegate the kernel refuses (ENOENT) clone3(CLONE_INTO_CGROUP)
	// from a namespace whose root is below the target, where we are then.
	cgFD := -1
	if _, joinsCgroupNS := ns.parentJoins["cgroup"]; !joinsCgroupNS {
		if cgFD, err = cg.FD(); err != nil {
			return nil, err
		}
		if cgFD >= 0 {
			defer unix.Close(cgFD)
		} else {
			so.joinCgroup = cg.SelfJoinFiles()
		}
	}
	so.cgroupFD = cgFD
	spawnInit := func() error {
		if init, err = spawn(so); err != nil {
			return err
		}
		r.Trace.Stage("init re-exec'd with clone flags %#x", ns.cloneFlags)
		return nil
	}
	if err := spawnInit(); err != nil {
		return nil, err
	}

	cfg := &initConfig{
		ID: o.ID, Bundle: bundle, Spec: spec, Rootfs: rootfs, NoPivot: o.NoPivot,
		UserNS:    hasNS(spec, specs.UserNamespace),
		NewCgroup: ns.newCgroupNS, CgroupV2: cgroup.Mode() == "v2",
		CgroupDirs: st.Cgroup.Paths, Annotations: spec.Annotations, PreserveFDs: o.PreserveFDs,
	}
	if r.Trace.Enabled() {
		cfg.TraceStart = r.Trace.start.UnixNano()
	}
	onPid := func(pid int) error {
		st.Pid = pid
		st.PidStart, _, _ = procStat(pid)
		if err := st.save(); err != nil {
			return err
		}
		if cgFD >= 0 || init.joinedCgroup {
			r.Trace.Stage("init pid %d recorded (it entered its cgroup itself)", pid)
			return nil
		}
		if err := cg.AddProc(pid); err != nil {
			return fmtlite.Errorf("put init in its cgroup: %w", err)
		}
		r.Trace.Stage("init pid %d recorded and placed in its cgroup", pid)
		return nil
	}
	onHooks := func() error {
		hs := st.SpecState()
		hs.Status = specs.StateCreating
		hs.Pid = st.Pid
		if spec.Hooks != nil {
			//nolint:staticcheck // prestart is deprecated but still part of the contract
			if err := runHooks("prestart", spec.Hooks.Prestart, hs); err != nil {
				return err
			}
			if err := runHooks("createRuntime", spec.Hooks.CreateRuntime, hs); err != nil {
				return err
			}
		}
		r.Trace.Stage("prestart/createRuntime hooks done")
		return nil
	}
	err = init.handshake(cfg, onPid, onHooks)
	var fallback *errFastFallback
	if errors.As(err, &fallback) {
		// The C init exited before it was ready; whatever it mounted went
		// with its mount namespace. The Go init starts over and, if the
		// spec really cannot be done, says why in its own words.
		r.Trace.Stage("C init fell back (%s): starting the Go init", fallback.reason)
		init.kill()
		so.fast = false
		if err = spawnInit(); err != nil {
			return nil, err
		}
		err = init.handshake(cfg, onPid, onHooks)
	}
	if err != nil {
		return nil, fmtlite.Errorf("create container %s: %w", o.ID, err)
	}
	if err := ensureInCgroup(cg, init); err != nil {
		return nil, fmtlite.Errorf("create container %s: %w", o.ID, err)
	}
	r.Trace.Stage("init ready, waiting on exec.fifo")
	init.sync.f.Close()

	c = &Container{State: st, init: init}
	if init.ptyMaster != nil {
		if o.ConsoleSocket != "" {
			err = sendConsole(o.ConsoleSocket, init.ptyMaster)
			init.ptyMaster.Close()
			if err != nil {
				return nil, err
			}
		} else {
			c.PtyMaster = init.ptyMaster
		}
	}
	// No save here: the record already holds the pid (onPid) and the
	// status is never stored, only derived from the live init and the fifo.
	st.Status = StatusCreated
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, st.Pid); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// missingDirs lists the directories of paths, and their parents, that do
// not exist yet, parents first: what cgroup Apply is about to create.
func missingDirs(paths map[string]string) []string {
	dirs := make([]string, 0, len(paths))
	for _, d := range paths {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		var chain []string
		for p := d; !seen[p] && p != filepath.Dir(p); p = filepath.Dir(p) {
			if _, err := os.Lstat(p); err == nil {
				break
			}
			seen[p] = true
			chain = append(chain, p)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			out = append(out, chain[i])
		}
	}
	return out
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	for _, e := range m {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	return out
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return atomicfile.Write(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// checkSecurityFields refuses LSM settings this host cannot honour, like runc.
func checkSecurityFields(s *specs.Spec, r *Runtime) error {
	if s.Process.ApparmorProfile != "" && !apparmorEnabled() {
		return fmtlite.Errorf("process.apparmorProfile %q: AppArmor is not enabled on this host", s.Process.ApparmorProfile)
	}
	if s.Process.SelinuxLabel != "" || s.Linux.MountLabel != "" {
		if !selinuxEnabled() {
			r.warnf("SELinux is not enabled on this host: selinuxLabel/mountLabel ignored")
		} else {
			return errors.New("SELinux labels are not supported by pcr yet")
		}
	}
	if s.Process.Scheduler != nil {
		return errors.New("process.scheduler is not supported by pcr")
	}
	if s.Process.IOPriority != nil {
		return errors.New("process.ioPriority is not supported by pcr")
	}
	return nil
}

func apparmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

func selinuxEnabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}
