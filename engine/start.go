package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/engine/internal/monitor"
	"pcr/image/layer"
	"pcr/internal/atomicfile"
	"pcr/runtime"
)

// Hidden commands the monitor runs: the start helper and the cleanup.
const (
	HelperStart    = "container-start-helper"
	HelperCleanup  = "container-cleanup"
	monitorPidFile = "monitor.pid"
)

// Stdio is the caller's stdio for a foreground run.
type Stdio struct{ In, Out, Err *os.File }

// prepareStart readies a container for a new run, under its lock, once
// the caller has checked there that it is not running: the runtime state
// of a run whose cleanup never ran is removed, the overlay mounted, the
// user resolved on it into config.json, the old exit record dropped, and
// a new run id recorded (the cleanup of an older run checks it and leaves
// a newer run alone). The caller is recorded as the run's monitor until
// the real one is known, so that a second start meanwhile sees the
// container running. spec is config.json when the caller has it in hand
// (create just wrote it), else nil; the spec for this run, written to
// config.json, is returned for a runtime in this process.
//
// With inProcess (the runtime runs in this process) a bridge network is
// attached beside the rest of the start, the runtime's cgroup included;
// then the returned netReady must be called, under the lock still, before
// the init is spawned: it waits for the network, puts its namespace in
// the spec and writes config.json. It is nil when all is done already.
func (e *Engine) prepareStart(rec *Record, spec *specs.Spec, inProcess bool) (_ *specs.Spec, netReady func(*specs.Spec) error, err error) {
	dir := e.dir(rec.ID)
	if _, err := e.rt.Load(rec.ID); err == nil {
		if err := e.rt.Delete(rec.ID, true); err != nil {
			return nil, nil, err
		}
	}
	if spec == nil {
		if spec, err = readSpec(dir); err != nil {
			return nil, nil, fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
		}
	}
	if inProcess && e.attachAside(rec) {
		// The network works on a copy of the namespaces: the runtime
		// reads spec meanwhile.
		nsOnly := &specs.Spec{Linux: &specs.Linux{Namespaces: slices.Clone(spec.Linux.Namespaces)}}
		done := make(chan error, 1)
		go func() { done <- e.setupNetwork(rec, nsOnly) }()
		netReady = func(spec *specs.Spec) error {
			if err := <-done; err != nil {
				return err
			}
			spec.Linux.Namespaces = nsOnly.Linux.Namespaces
			if err := writeSpec(dir, spec); err != nil {
				return fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
			}
			return nil
		}
		defer func() {
			if err != nil {
				<-done // a failed start is torn down once the network is made
				netReady = nil
			}
		}()
	}
	if err := e.mountRootfs(rec); err != nil {
		return nil, nil, err
	}
	if err := setProcessUser(filepath.Join(dir, "rootfs"), rec, spec); err != nil {
		return nil, nil, err
	}
	e.trace.Stage("user %q resolved in the rootfs", rec.User)
	if netReady == nil {
		if err := e.setupNetwork(rec, spec); err != nil {
			return nil, nil, err
		}
		if err := writeSpec(dir, spec); err != nil {
			return nil, nil, fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "exit.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	os.Remove(filepath.Join(dir, monitorPidFile))
	rec.StartedAt = time.Now().UTC()
	rec.RunID = strconv.FormatInt(rec.StartedAt.UnixNano(), 36)
	rec.Monitor, rec.MonitorStart = os.Getpid(), procStart(os.Getpid())
	if err := writeRecord(dir, rec); err != nil {
		return nil, nil, err
	}
	return spec, netReady, nil
}

// attachAside says whether the start may attach rec's network while it
// does the rest: a bridge network, which touches only its own files. A
// disk moves the /etc files the network writes as the rootfs is mounted.
func (e *Engine) attachAside(rec *Record) bool {
	m, err := parseNetMode(rec.Options.Network)
	return err == nil && m.kind != NetNone && m.kind != NetHost && m.kind != "container" && rec.Options.StorageSize == 0
}

// lockStartable takes the container's lock and reads it again under it:
// what the caller saw before may be stale (another start, an rm).
func (e *Engine) lockStartable(id string) (*Container, func(), error) {
	unlock, err := lockContainer(e.dir(id))
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil, fmt.Errorf("%w: %s", ErrNoSuchContainer, id)
		}
		return nil, nil, err
	}
	c, err := e.load(id)
	if err == nil && c.State.Status == StatusDead {
		err = fmt.Errorf("container %s is dead (its create was interrupted): remove it with rm -f", ShortID(id))
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return c, unlock, nil
}

// mountRootfs mounts the overlay on rootfs/ unless it is mounted: the
// image's layers, with the container's upper/ and work/ on top, or none
// for --read-only.
func (e *Engine) mountRootfs(rec *Record) error {
	dir := e.dir(rec.ID)
	target := filepath.Join(dir, "rootfs")
	if layer.IsMountPoint(target) {
		return nil
	}
	// --read-only keeps the upper too, as Docker does: the runtime makes
	// the mountpoints of /etc/hostname, volumes and tmpfs (which the image
	// may lack) before it remounts the root read-only (root.readonly).
	if err := e.mountOverlay(rec, rec.Lowers, target, true); err != nil {
		return fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
	}
	e.trace.Stage("overlay mounted (%d layers)", len(rec.Lowers))
	if err := makeWorkdir(target, rec); err != nil {
		e.unmountRootfs(rec.ID)
		return err
	}
	return nil
}

func (e *Engine) unmountRootfs(id string) error {
	dir := e.dir(id)
	target := filepath.Join(dir, "rootfs")
	if layer.IsMountPoint(target) {
		if err := layer.Unmount(target); err != nil {
			return fmt.Errorf("unmount rootfs of %s: %w", ShortID(id), err)
		}
		// Unmounted cleanly: an --rm container's volatile upper may be
		// mounted again (a cp before its start).
		if err := layer.ClearVolatileMark(filepath.Join(dir, "work")); err != nil {
			return fmt.Errorf("unmount rootfs of %s: %w", ShortID(id), err)
		}
	}
	// Also when a killed pcr left them without the overlay.
	return e.unmountStorage(id)
}

// makeWorkdir creates the working directory in the rootfs when the image
// lacks it, as Docker does, resolving it inside the rootfs so that a
// symlink in the image cannot point the mkdir outside.
func makeWorkdir(rootfs string, rec *Record) error {
	cwd := rec.Options.WorkingDir
	if cwd == "" || cwd == "/" {
		return nil
	}
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("working directory %s: %w", cwd, err)
	}
	defer unix.Close(root)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}
	if fd, err := unix.Openat2(root, cwd, how); err == nil {
		unix.Close(fd)
		return nil
	}
	prefix := "/"
	for _, comp := range strings.Split(strings.Trim(filepath.Clean(cwd), "/"), "/") {
		parent, err := unix.Openat2(root, prefix, how)
		if err != nil {
			return fmt.Errorf("working directory %s: %s: %w", cwd, prefix, err)
		}
		err = unix.Mkdirat(parent, comp, 0o755)
		unix.Close(parent)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("working directory %s: mkdir %s: %w", cwd, comp, err)
		}
		prefix = filepath.Join(prefix, comp)
	}
	return nil
}

// Run creates a container and runs it in the foreground with the caller's
// stdio, or detached under a monitor; it returns the container and, in
// the foreground, its exit status.
func (e *Engine) Run(imageRef string, o Options, detach bool, stdio Stdio) (*Record, int, error) {
	rec, spec, err := e.create(imageRef, o)
	if err != nil {
		return nil, 0, err
	}
	if detach {
		_, err := e.startDetached(rec.ID)
		if err != nil && rec.Options.Rm {
			e.remove(rec.ID, true)
		}
		return rec, 0, err
	}
	status, err := e.runForeground(rec.ID, stdio, spec, rec)
	return rec, status, err
}

// runForeground runs a container in this process: create, start, wait,
// record the exit, tear down. No monitor: the caller is waiting anyway.
// spec is the container's config.json when the caller has it, written
// with the record created, else nil.
func (e *Engine) runForeground(id string, stdio Stdio, spec *specs.Spec, created *Record) (int, error) {
	dir := e.dir(id)
	c, unlock, err := e.lockStartable(id)
	if err != nil {
		return 0, err
	}
	if c.State.Running {
		unlock()
		return 0, fmt.Errorf("container %s is already running: use logs -f or exec", ShortID(id))
	}
	rec := c.Record
	if spec != nil && !reflect.DeepEqual(rec.Options, created.Options) {
		spec = nil // an update got in since the create: config.json has it
	}
	spec, netReady, err := e.prepareStart(rec, spec, true)
	if err != nil {
		unlock()
		e.Cleanup(rec.ID, rec.RunID)
		return 0, err
	}
	// The lock is held until the network is attached, which the runtime
	// waits for (netReady) only just before it spawns the init.
	var netErr error
	awaitNetwork := func(spec *specs.Spec) error {
		if netReady != nil {
			netErr, netReady = netReady(spec), nil
			unlock()
		}
		return netErr
	}
	if netReady == nil {
		unlock()
	}
	// A bridge network is released as soon as the payload is gone, beside
	// the runtime's delete; Cleanup then has only the rest to undo.
	var netFreed chan error
	releaseNetwork := func() {
		if m, err := parseNetMode(rec.Options.Network); err == nil && m.bridged() {
			netFreed = make(chan error, 1)
			go func() { netFreed <- e.releaseNetwork(rec.ID) }()
		}
	}
	status, err := e.rt.Run(runtime.RunOpts{CreateOpts: runtime.CreateOpts{
		ID: rec.ID, Bundle: dir, Spec: spec, Stdin: stdio.In, Stdout: stdio.Out, Stderr: stdio.Err,
		BeforeSpawn: awaitNetwork,
	}, OnExit: releaseNetwork})
	awaitNetwork(spec) // when the runtime failed before it asked
	netReleased := false
	if netFreed != nil {
		netReleased = <-netFreed == nil
	}
	exit := monitor.Exit{Code: status, FinishedAt: time.Now().UTC()}
	if err != nil {
		exit.Code = ExitStatus(err)
	} else if status > 128 {
		exit.Signal = status - 128
	}
	if exists(dir) { // not when an rm -f got in (the runtime's container is gone too)
		monitor.WriteExit(dir, exit)
	}
	if cerr := e.cleanup(rec.ID, rec.RunID, netReleased); cerr != nil && err == nil {
		err = cerr
	}
	e.trace.Stage("container torn down")
	return status, err
}

// Start starts a created or exited container detached. Starting a
// running container does nothing, as in Docker.
func (e *Engine) Start(ref string) (*Record, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	return e.startDetached(id)
}

// StartAttached starts a created or exited container in the foreground
// (start -a).
func (e *Engine) StartAttached(ref string, stdio Stdio) (*Record, int, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, 0, err
	}
	status, err := e.runForeground(id, stdio, nil, nil)
	if err != nil {
		return nil, status, err
	}
	rec, _ := readRecord(e.dir(id))
	return rec, status, nil
}

func (e *Engine) helperArgs(verb string, rec *Record) []string {
	return []string{"pcr", "--root", e.root, "--state", e.state, verb, rec.ID, rec.RunID}
}

// startDetached hands the run to a monitor: it runs the start helper
// (this binary, StartHelper) and, when the container exits, records the
// exit and runs Cleanup. Nothing of pcr's Go stays resident. The lock is
// held to prepare the run, not while the monitor starts: the helper takes
// it itself to create the runtime's container, so that an rm -f that
// gets in (this pcr may be killed at any point) either comes before the
// helper, which then finds the container gone, or after the runtime's
// container exists, which rm then deletes.
func (e *Engine) startDetached(id string) (*Record, error) {
	dir := e.dir(id)
	c, unlock, err := e.lockStartable(id)
	if err != nil {
		return nil, err
	}
	rec := c.Record
	if c.State.Running {
		unlock()
		return rec, nil // Docker's start of a running container: nothing to do
	}
	_, _, err = e.prepareStart(rec, nil, false)
	unlock()
	if err != nil {
		e.abortStart(rec, err)
		return rec, err
	}
	_, err = monitor.Start(monitor.Options{
		Dir: dir, Terminal: rec.Options.Tty,
		StartArgs: e.helperArgs(HelperStart, rec), CleanupArgs: e.helperArgs(HelperCleanup, rec),
	})
	if err != nil {
		err = fmt.Errorf("start container %s: %w", ShortID(rec.ID), parseHelperError(err))
		e.abortStart(rec, err)
		return rec, err
	}
	e.trace.Stage("monitor started the container")
	return rec, e.recordMonitor(rec)
}

// recordMonitor names the run's monitor in the record, in place of the
// pcr that started it, unless the run is over and gone already.
func (e *Engine) recordMonitor(rec *Record) error {
	dir := e.dir(rec.ID)
	unlock, err := lockContainer(dir)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // an --rm run that ended, or an rm -f
		}
		return err
	}
	defer unlock()
	cur, err := readRecord(dir)
	if err != nil || cur.RunID != rec.RunID {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, monitorPidFile))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		return nil
	}
	cur.Monitor, cur.MonitorStart = pid, procStart(pid)
	*rec = *cur
	return writeRecord(dir, cur)
}

// abortStart undoes a start that failed before its container ran: the
// overlay and any runtime state, and an exit record with Docker's status
// for the failure. A newer run, or a removal, is left alone.
func (e *Engine) abortStart(rec *Record, cause error) {
	dir := e.dir(rec.ID)
	unlock, err := lockContainer(dir)
	if err != nil {
		return
	}
	defer unlock()
	cur, err := readRecord(dir)
	if err != nil || cur.RunID != rec.RunID {
		return
	}
	e.teardown(rec.ID)
	monitor.WriteExit(dir, monitor.Exit{Code: ExitStatus(cause), FinishedAt: time.Now().UTC()})
	cur.Monitor, cur.MonitorStart = 0, 0
	writeRecord(dir, cur)
}

// StartHelper is the monitor's start helper: it creates and starts the
// container with the monitor's pipes as stdio and reports the init's pid
// (and the pty) back.
func (e *Engine) StartHelper(id, runID string) error {
	err := e.startHelper(id, runID)
	if err != nil {
		monitor.ReportFailed(helperError(err))
	}
	return err
}

// startHelper holds the container's lock while it creates the runtime's
// container: rm -f waits for it, and if rm came first the directory is
// gone (or the run is not the current one) and nothing is created.
func (e *Engine) startHelper(id, runID string) error {
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("container %s was removed while it was being started", ShortID(id))
		}
		return err
	}
	defer unlock()
	rec, err := readRecord(dir)
	if err != nil {
		return err
	}
	if rec.RunID != runID {
		return fmt.Errorf("container %s: run %s is not the current one", ShortID(id), runID)
	}
	if !layer.IsMountPoint(filepath.Join(dir, "rootfs")) {
		return fmt.Errorf("container %s: its rootfs was unmounted while it was being started", ShortID(id))
	}
	// The monitor is our parent; rm -f waits for it to finish.
	if err := atomicfile.Write(filepath.Join(dir, monitorPidFile), []byte(strconv.Itoa(os.Getppid())), 0o600); err != nil {
		return err
	}
	c, err := e.rt.Create(runtime.CreateOpts{
		ID: id, Bundle: dir, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, KeepTerminal: rec.Options.Tty,
	})
	if err != nil {
		return err
	}
	if err := e.rt.Start(id); err != nil {
		e.rt.Delete(id, true)
		return err
	}
	unlock()
	return monitor.ReportStarted(c.State.Pid, c.PtyMaster)
}

// helperError carries the exit status Docker would give an exec failure
// across the monitor's one-line report; parseHelperError takes it back.
func helperError(err error) error {
	if code := ExitStatus(err); code != 125 {
		return fmt.Errorf("(%d) %w", code, err)
	}
	return err
}

var helperStatus = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\((12[67])\) `) })

func parseHelperError(err error) error {
	m := helperStatus().FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), m[0])
	kind := runtime.ErrCommandCannotExecute
	if m[1] == "127" {
		kind = runtime.ErrCommandNotFound
	}
	return &execFailure{msg: msg, kind: kind}
}

type execFailure struct {
	msg  string
	kind error
}

func (e *execFailure) Error() string { return e.msg }
func (e *execFailure) Unwrap() error { return e.kind }

// ExitStatus is the status Docker exits with for a failed run: 127 when
// the command is not found, 126 when it cannot be executed, else 125.
func ExitStatus(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, runtime.ErrCommandNotFound):
		return 127
	case errors.Is(err, runtime.ErrCommandCannotExecute):
		return 126
	}
	return 125
}

// Cleanup tears down a run that ended: the runtime's container, the
// overlay mount, and with --rm the container itself. The monitor runs it
// (as HelperCleanup) after recording the exit; a foreground run calls it
// directly. A newer run of the container is left alone.
func (e *Engine) Cleanup(id, runID string) error {
	return e.cleanup(id, runID, false)
}

// cleanup is Cleanup for a caller that may have released the network
// already.
func (e *Engine) cleanup(id, runID string, netReleased bool) error {
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed already
		}
		return err
	}
	defer unlock()
	rec, err := readRecord(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if rec.RunID != runID {
		return nil
	}
	if err := e.teardownRun(id, netReleased); err != nil {
		return err
	}
	if rec.Options.Rm {
		err := e.removeFiles(rec.ID, rec.Name)
		e.trace.Stage("container removed (--rm)")
		return err
	}
	return nil
}

// teardown undoes a run: the runtime's container (processes, cgroup,
// state) and the overlay mount. Each part tolerates being gone.
func (e *Engine) teardown(id string) error {
	return e.teardownRun(id, false)
}

// teardownRun is teardown that skips the network when the caller has
// released it already.
func (e *Engine) teardownRun(id string, netReleased bool) error {
	var errs []error
	if _, err := e.rt.Load(id); err == nil {
		if err := e.rt.Delete(id, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if !netReleased {
		if err := e.releaseNetwork(id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.unmountRootfs(id); err != nil {
		errs = append(errs, err)
	}
	e.trace.Stage("runtime state deleted, overlay unmounted")
	return errors.Join(errs...)
}

// removeFiles removes the container's directory and then its name (a
// name left by a kill in between is stale and reclaimed by claimName).
// The directory is first renamed out of the containers dir, so that no
// reader (ps, wait, inspect) sees a half-emptied container; a pcr killed
// before emptying it leaves a trash dir the next rm sweeps. The caller
// holds the lock, but a monitor whose container was just killed may still
// write its exit record into the directory while it is being emptied; a
// second pass removes what that left.
func (e *Engine) removeFiles(id, name string) error {
	trash := filepath.Join(e.containersDir(), trashPrefix+id)
	if err := os.Rename(e.dir(id), trash); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	var err error
	for range 5 {
		if err = os.RemoveAll(trash); err == nil {
			break
		}
		time.Sleep(pollInterval)
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	e.releaseName(name, id)
	return nil
}

// trashPrefix names a removed container's directory while it is emptied.
const trashPrefix = ".rm-"

// sweepTrash empties what removals killed halfway left. Nothing refers
// to those directories any more: their rename was the removal.
func (e *Engine) sweepTrash() {
	entries, err := os.ReadDir(e.containersDir())
	if err != nil {
		return
	}
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), trashPrefix) {
			os.RemoveAll(filepath.Join(e.containersDir(), en.Name()))
		}
	}
}
