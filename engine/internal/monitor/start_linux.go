//go:build linux

package monitor

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Environment of the monitor's protocol; see the package comment.
const (
	monitorEnv     = "_PCR_MONITOR"
	monitorOptsEnv = "_PCR_MONITOR_OPTS"
	reportEnv      = "_PCR_MONITOR_REPORT"
)

// Options say how to monitor one detached container.
type Options struct {
	Dir         string   // the container's directory: log at LogPath(Dir), exit record at Dir/exit.json
	Terminal    bool     // the container has a pty: the start helper sends the master fd to the monitor
	StartArgs   []string // argv of the start helper, run as /proc/self/exe (argv[0] included)
	CleanupArgs []string // argv exec'd (as /proc/self/exe) by the monitor after the exit is recorded
	Env         []string // environment for the helper and cleanup (nil: the caller's, minus the monitor's own variable)
}

// Start launches a detached monitor (it double-forks and setsid()s, so
// Start's caller can exit at once and the monitor outlives it) and blocks
// until the start helper reports. It returns the container init's pid, or an
// error carrying the helper's one-line message (or "start helper exited with
// status N" when it died without one).
func Start(o Options) (int, error) {
	if !constructorLinked {
		return 0, errors.New("start monitor: built without cgo, the monitor is not linked in")
	}
	if o.Dir == "" || !strings.HasPrefix(o.Dir, "/") {
		return 0, fmt.Errorf("start monitor: container directory %q is not absolute", o.Dir)
	}
	if len(o.StartArgs) == 0 {
		return 0, errors.New("start monitor: no start helper command")
	}
	for _, a := range append(append([]string{o.Dir}, o.StartArgs...), o.CleanupArgs...) {
		if strings.IndexByte(a, 0) >= 0 {
			return 0, fmt.Errorf("start monitor: argument %q contains a NUL byte", a)
		}
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	opts := strconv.Itoa(len(o.StartArgs))
	if o.Terminal {
		opts += ",tty"
	}
	env = append(withoutMonitorEnv(env), monitorEnv+"="+o.Dir, monitorOptsEnv+"="+opts)

	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("start monitor for %s: %w", o.Dir, err)
	}
	defer r.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append(append([]string{"pcr-monitor"}, o.StartArgs...), o.CleanupArgs...),
		Env:        env,
		ExtraFiles: []*os.File{w},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("start monitor for %s: %w", o.Dir, err)
	}
	// The first process forks the monitor and exits at once; a non-zero
	// status means the constructor refused before forking, and said why on
	// the pipe.
	waitErr := cmd.Wait()
	line, readErr := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSuffix(line, "\n")
	switch {
	case strings.HasPrefix(line, "ok "):
		pid, err := strconv.Atoi(line[3:])
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("start monitor for %s: bad report %q", o.Dir, line)
		}
		return pid, nil
	case strings.HasPrefix(line, "error "):
		return 0, errors.New(line[6:])
	case waitErr != nil:
		return 0, fmt.Errorf("start monitor for %s: %w", o.Dir, waitErr)
	case readErr != nil:
		return 0, fmt.Errorf("start monitor for %s: monitor exited without a report", o.Dir)
	}
	return 0, fmt.Errorf("start monitor for %s: bad report %q", o.Dir, line)
}

// withoutMonitorEnv drops the protocol's variables, so a caller that is itself
// a helper cannot hand them on by accident.
func withoutMonitorEnv(env []string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == monitorEnv || name == monitorOptsEnv || name == reportEnv {
			continue
		}
		out = append(out, kv)
	}
	return out
}
