package runtime

import (
	"io"
	"os"
	goruntime "runtime"
	"sync"

	"golang.org/x/sys/unix"

	"pcr/runtime/internal/sigrelay"
)

// RunOpts are `run`'s flags: create's plus --detach.
type RunOpts struct {
	CreateOpts
	Detach bool
	// OnExit, when set, is called as soon as the payload has exited, before
	// the container is deleted: the caller may start undoing, beside the
	// delete, what it made for the run.
	OnExit func()
}

// Run creates and starts a container. In the foreground it forwards
// signals, proxies the terminal, waits, deletes the container and returns
// the payload's status (128+N when killed by signal N).
func (r *Runtime) Run(o RunOpts) (int, error) {
	o.KeepTerminal = !o.Detach
	var sigs *caughtSignals
	if !o.Detach {
		// Signals are taken before Create: one that comes meanwhile waits
		// for the payload instead of killing us half-way.
		var err error
		if sigs, err = catchSignals(); err != nil {
			return 0, err
		}
	}
	c, err := r.Create(o.CreateOpts)
	if err != nil {
		if sigs != nil {
			sigs.release()
		}
		return 0, err
	}
	if o.Detach {
		err := r.start(c.State)
		c.init.releaseExe()
		if err != nil {
			r.delete(c.State, true)
			return 0, err
		}
		return 0, nil
	}
	fg := forward(c.State.Pid, c.PtyMaster, sigs)
	if err := r.start(c.State); err != nil {
		fg.stop()
		r.delete(c.State, true)
		return 0, err
	}
	status := c.Wait()
	fg.stop()
	r.Trace.Stage("container exited with status %d", status)
	if o.OnExit != nil {
		o.OnExit()
	}
	defer r.Trace.Stage("container deleted")
	if err := r.delete(c.State, true); err != nil {
		return status, err
	}
	return status, nil
}

// RunForeground forwards signals to an exec'd process, proxies its pty,
// and waits for it. When this process cannot take its signals, it kills
// the exec'd one rather than leave it unattended.
func RunForeground(p *Process) (int, error) {
	sigs, err := catchSignals()
	if err != nil {
		unix.Kill(p.Pid, unix.SIGKILL)
		p.Wait()
		return 0, err
	}
	fg := forward(p.Pid, p.PtyMaster, sigs)
	status := p.Wait()
	fg.stop()
	return status, nil
}

type foreground struct {
	sigs    *caughtSignals
	done    chan struct{}
	copying sync.WaitGroup
	restore func()
	pty     *os.File
}

// caughtSignals are this process's signals, held for a payload in the
// foreground: queued in ch from the moment they are caught.
type caughtSignals struct {
	relay *sigrelay.Relay
	ch    chan unix.Signal
}

func catchSignals() (*caughtSignals, error) {
	cs := &caughtSignals{ch: make(chan unix.Signal, 32)}
	relay, err := sigrelay.Start(sigrelay.Forwardable(), func(s unix.Signal) {
		select {
		case cs.ch <- s:
		default: // a full queue drops it, as os/signal does
		}
	})
	if err != nil {
		return nil, err
	}
	cs.relay = relay
	return cs, nil
}

// release hands the signals back to the Go runtime: from then on, one that
// kills a Go program kills this one again.
func (cs *caughtSignals) release() { cs.relay.Stop() }

// forward passes what arrives on sigs to pid, and proxies pty when there is
// one.
func forward(pid int, pty *os.File, sigs *caughtSignals) *foreground {
	fg := &foreground{sigs: sigs, done: make(chan struct{}), restore: func() {}, pty: pty}
	if pty != nil {
		// Reading our stdin blocks a thread in read(2), and holds the only P
		// of a process that runs with one (pcr-oci) until the scheduler's
		// monitor takes it back, up to 10 ms later: the pty's output would
		// wait that long. A second P serves it at once.
		if goruntime.GOMAXPROCS(0) < 2 {
			goruntime.GOMAXPROCS(2)
		}
		if restore, err := makeRaw(int(os.Stdin.Fd())); err == nil {
			fg.restore = restore
			resizePty(pty)
		}
		go io.Copy(pty, os.Stdin)
		out := stdoutForProxy()
		fg.copying.Add(1)
		go func() {
			defer fg.copying.Done()
			io.Copy(out, pty)
			if out != os.Stdout {
				out.Close()
			}
		}()
	}
	go func() {
		for {
			select {
			case <-fg.done:
				return
			case sig := <-sigs.ch:
				switch sig {
				case unix.SIGPIPE:
				case unix.SIGWINCH:
					if pty != nil {
						resizePty(pty)
					}
				default:
					unix.Kill(pid, sig)
				}
			}
		}
	}()
	return fg
}

func (fg *foreground) stop() {
	fg.sigs.release()
	close(fg.done)
	if fg.pty != nil {
		// The payload is gone; drain what it wrote, then give the terminal back.
		fg.copying.Wait()
		fg.pty.Close()
	}
	fg.restore()
}

// stdoutForProxy is where the pty's output goes: a duplicate of our
// stdout. A write to a closed pipe through os.Stdout itself makes the Go
// runtime kill the whole process with SIGPIPE unless os/signal holds that
// signal (runtime.sigpipe), and we would die with the payload running and
// its container never deleted; through another descriptor it is an EPIPE
// the copy stops at.
func stdoutForProxy() *os.File {
	fd, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return os.Stdout
	}
	return os.NewFile(uintptr(fd), "stdout")
}

func resizePty(pty *os.File) {
	ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ)
	if err == nil {
		unix.IoctlSetWinsize(int(pty.Fd()), unix.TIOCSWINSZ, ws)
	}
}
