package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"pcr/engine/internal/monitor"
	"pcr/image/layer"
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

// prepareStart readies a container for a new run, under its lock: the
// runtime state of a run whose cleanup never ran is removed, the overlay
// mounted, the old exit record dropped, and a new run id recorded (the
// cleanup of an older run checks it and leaves a newer run alone).
func (e *Engine) prepareStart(rec *Record) error {
	dir := e.dir(rec.ID)
	if _, err := e.rt.Load(rec.ID); err == nil {
		if err := e.rt.Delete(rec.ID, true); err != nil {
			return err
		}
	}
	if err := e.mountRootfs(rec); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, "exit.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(filepath.Join(dir, monitorPidFile))
	rec.StartedAt = time.Now().UTC()
	rec.RunID = strconv.FormatInt(rec.StartedAt.UnixNano(), 36)
	rec.Monitor = 0
	return writeRecord(dir, rec)
}

// mountRootfs mounts the overlay on rootfs/ unless it is mounted: the
// image's layers, with the container's upper/ and work/ on top, or none
// for --read-only.
func (e *Engine) mountRootfs(rec *Record) error {
	dir := e.dir(rec.ID)
	target := filepath.Join(dir, "rootfs")
	if mounted(dir, target) {
		return nil
	}
	// --read-only keeps the upper too, as Docker does: the runtime makes
	// the mountpoints of /etc/hostname, volumes and tmpfs (which the image
	// may lack) before it remounts the root read-only (root.readonly).
	o := layer.Overlay{Lowers: rec.Lowers, Target: target, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")}
	if err := layer.Mount(o); err != nil {
		return fmt.Errorf("start container %s: mount rootfs: %w", ShortID(rec.ID), err)
	}
	e.trace.Stage("overlay mounted (%d layers)", len(rec.Lowers))
	if err := makeWorkdir(target, rec); err != nil {
		e.unmountRootfs(rec.ID)
		return err
	}
	return nil
}

// mounted says whether target is a mount point (statx's mount-root
// attribute: one syscall, no mountinfo parsing, right for bind mounts of
// the same filesystem too).
func mounted(_, target string) bool {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, target, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st); err != nil {
		return false
	}
	return st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

func (e *Engine) unmountRootfs(id string) error {
	dir := e.dir(id)
	target := filepath.Join(dir, "rootfs")
	if !mounted(dir, target) {
		return nil
	}
	if err := layer.Unmount(target); err != nil {
		return fmt.Errorf("unmount rootfs of %s: %w", ShortID(id), err)
	}
	return nil
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
	rec, err := e.Create(imageRef, o)
	if err != nil {
		return nil, 0, err
	}
	if detach {
		err := e.startDetached(rec)
		if err != nil && rec.Options.Rm {
			e.remove(rec.ID)
		}
		return rec, 0, err
	}
	status, err := e.runForeground(rec, stdio)
	return rec, status, err
}

// runForeground runs a container in this process: create, start, wait,
// record the exit, tear down. No monitor: the caller is waiting anyway.
func (e *Engine) runForeground(rec *Record, stdio Stdio) (int, error) {
	dir := e.dir(rec.ID)
	unlock, err := lockContainer(dir)
	if err != nil {
		return 0, err
	}
	err = e.prepareStart(rec)
	if err == nil {
		rec.Monitor, rec.MonitorStart = os.Getpid(), procStart(os.Getpid())
		err = writeRecord(dir, rec)
	}
	unlock()
	if err != nil {
		e.Cleanup(rec.ID, rec.RunID)
		return 0, err
	}
	status, err := e.rt.Run(runtime.RunOpts{CreateOpts: runtime.CreateOpts{
		ID: rec.ID, Bundle: dir, Stdin: stdio.In, Stdout: stdio.Out, Stderr: stdio.Err,
	}})
	exit := monitor.Exit{Code: status, FinishedAt: time.Now().UTC()}
	if err != nil {
		exit.Code = ExitStatus(err)
	} else if status > 128 {
		exit.Signal = status - 128
	}
	monitor.WriteExit(dir, exit)
	if cerr := e.Cleanup(rec.ID, rec.RunID); cerr != nil && err == nil {
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
	c, err := e.load(id)
	if err != nil {
		return nil, err
	}
	if c.State.Status == StatusDead {
		return nil, fmt.Errorf("container %s is dead (its create was interrupted): remove it with rm -f", ShortID(id))
	}
	if c.State.Running {
		return c.Record, nil
	}
	return c.Record, e.startDetached(c.Record)
}

// StartAttached starts a created or exited container in the foreground
// (start -a).
func (e *Engine) StartAttached(ref string, stdio Stdio) (*Record, int, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, 0, err
	}
	c, err := e.load(id)
	if err != nil {
		return nil, 0, err
	}
	if c.State.Running {
		return nil, 0, fmt.Errorf("container %s is already running: use logs -f or exec", ShortID(id))
	}
	status, err := e.runForeground(c.Record, stdio)
	return c.Record, status, err
}

func (e *Engine) helperArgs(verb string, rec *Record) []string {
	return []string{"pcr", "--root", e.root, "--state", e.state, verb, rec.ID, rec.RunID}
}

// startDetached hands the run to a monitor: it runs the start helper
// (this binary, StartHelper) and, when the container exits, records the
// exit and runs Cleanup. Nothing of pcr's Go stays resident.
func (e *Engine) startDetached(rec *Record) error {
	dir := e.dir(rec.ID)
	unlock, err := lockContainer(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := e.prepareStart(rec); err != nil {
		e.teardown(rec.ID)
		return err
	}
	_, err = monitor.Start(monitor.Options{
		Dir: dir, Terminal: rec.Options.Tty,
		StartArgs: e.helperArgs(HelperStart, rec), CleanupArgs: e.helperArgs(HelperCleanup, rec),
	})
	if err != nil {
		err = parseHelperError(err)
		e.teardown(rec.ID)
		monitor.WriteExit(dir, monitor.Exit{Code: ExitStatus(err), FinishedAt: time.Now().UTC()})
		return fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
	}
	e.trace.Stage("monitor started the container")
	if data, err := os.ReadFile(filepath.Join(dir, monitorPidFile)); err == nil {
		rec.Monitor, _ = strconv.Atoi(string(data))
		rec.MonitorStart = procStart(rec.Monitor)
		return writeRecord(dir, rec)
	}
	return nil
}

// StartHelper is the monitor's start helper: it creates and starts the
// container with the monitor's pipes as stdio and reports the init's pid
// (and the pty) back. The caller of startDetached holds the lock.
func (e *Engine) StartHelper(id, runID string) error {
	err := e.startHelper(id, runID)
	if err != nil {
		monitor.ReportFailed(helperError(err))
	}
	return err
}

func (e *Engine) startHelper(id, runID string) error {
	dir := e.dir(id)
	rec, err := readRecord(dir)
	if err != nil {
		return err
	}
	if rec.RunID != runID {
		return fmt.Errorf("container %s: run %s is not the current one", ShortID(id), runID)
	}
	// The monitor is our parent; rm -f waits for it to finish.
	writeFileAtomic(filepath.Join(dir, monitorPidFile), []byte(strconv.Itoa(os.Getppid())), 0o600)
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
	if err := e.teardown(id); err != nil {
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
	var errs []error
	if _, err := e.rt.Load(id); err == nil {
		if err := e.rt.Delete(id, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
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
func (e *Engine) removeFiles(id, name string) error {
	if err := os.RemoveAll(e.dir(id)); err != nil {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	e.releaseName(name, id)
	return nil
}
