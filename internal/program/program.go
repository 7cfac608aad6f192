// Package program runs a program to its end and collects what it printed,
// for the few programs pcr-oci runs itself: OCI hooks and ps.
//
// It does without os/exec, which links context, its godebug settings and
// its path lookup into pcr-oci: 70 KB of the binary (2810018 -> 2740386
// bytes), and this kernel maps a binary's pages 64 KiB at a time on each
// container start. os.StartProcess is all these callers need.
package program

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cmd is one program run.
type Cmd struct {
	Path string   // absolute, or found with LookPath
	Args []string // argv, Args[0] included; just Path when empty
	// Env is the program's whole environment; nil inherits ours.
	Env []string
	// Stdin is written to the program's standard input, which is then
	// closed; nil gives it /dev/null.
	Stdin []byte
	// Stderr receives the program's standard error; nil collects it with
	// standard output.
	Stderr *os.File
	// Timeout kills the program when it runs longer; 0 never does.
	Timeout time.Duration
}

// ErrTimedOut is a program killed at its Cmd.Timeout.
var ErrTimedOut = errors.New("timed out")

// Output runs c and returns what it wrote to standard output (and standard
// error, unless c.Stderr is set). A program that exits non-zero, or is
// killed, gives an error that says how ("exit status 1", "signal: killed"),
// or ErrTimedOut; the output so far comes back with it.
func Output(c Cmd) ([]byte, error) {
	args := c.Args
	if len(args) == 0 {
		args = []string{c.Path}
	}
	stdin, err := stdinFile(c.Stdin)
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return nil, err
	}
	stderr := c.Stderr
	if stderr == nil {
		stderr = outW
	}
	var stdinW *os.File
	if c.Stdin != nil {
		stdinW = stdin.writer
	}
	proc, err := os.StartProcess(c.Path, args, &os.ProcAttr{Env: c.Env, Files: []*os.File{stdin.File, outW, stderr}})
	stdin.File.Close()
	outW.Close()
	if err != nil {
		if stdinW != nil {
			stdinW.Close()
		}
		outR.Close()
		return nil, err
	}
	var feeding sync.WaitGroup
	if stdinW != nil {
		feeding.Add(1)
		go func() {
			defer feeding.Done()
			stdinW.Write(c.Stdin) // a program that stops reading gets EPIPE here, not us
			stdinW.Close()
		}()
	}
	var timedOut atomic.Bool
	if c.Timeout > 0 {
		t := time.AfterFunc(c.Timeout, func() {
			timedOut.Store(true)
			proc.Kill()
			// A child the program left behind may hold the pipe open for
			// longer: stop reading now.
			outR.Close()
		})
		defer t.Stop()
	}
	var out bytes.Buffer
	_, readErr := io.Copy(&out, outR)
	outR.Close()
	state, err := proc.Wait()
	feeding.Wait()
	switch {
	case timedOut.Load():
		return out.Bytes(), ErrTimedOut
	case err != nil:
		return out.Bytes(), err
	case !state.Success():
		return out.Bytes(), errors.New(state.String())
	case readErr != nil:
		return out.Bytes(), readErr
	}
	return out.Bytes(), nil
}

// stdin is the read end the program gets and, when there is data to
// feed, the write end we feed it through.
type stdin struct {
	*os.File
	writer *os.File
}

func stdinFile(data []byte) (stdin, error) {
	if data == nil {
		f, err := os.Open(os.DevNull)
		return stdin{File: f}, err
	}
	r, w, err := os.Pipe()
	return stdin{File: r, writer: w}, err
}

// LookPath finds an executable named name in $PATH, as a shell would; a
// name with a slash is taken as it is.
func LookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(name + ": executable file not found in $PATH")
}
