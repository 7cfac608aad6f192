package runtime

import (
	"io"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
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
	var sigs chan os.Signal
	notified := make(chan struct{})
	if o.Detach {
		close(notified)
	} else {
		// Taking every signal costs a sigaction or two each (milliseconds
		// on some hypervisors); done beside Create it is off the start
		// path, and a signal that comes during Create waits in the channel
		// for the payload instead of killing us half-way.
		sigs = make(chan os.Signal, 32)
		go func() {
			signal.Notify(sigs)
			close(notified)
		}()
	}
	c, err := r.Create(o.CreateOpts)
	if err != nil {
		if sigs != nil {
			<-notified
			signal.Stop(sigs)
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

// RunForeground forwards signals and proxies the pty of an exec'd process.
func RunForeground(p *Process) int {
	fg := startForeground(p.Pid, p.PtyMaster)
	status := p.Wait()
	fg.stop()
	return status
}

type foreground struct {
	sigs    chan os.Signal
	done    chan struct{}
	copying sync.WaitGroup
	restore func()
	pty     *os.File
}

func startForeground(pid int, pty *os.File) *foreground {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	return forward(pid, pty, sigs)
}

// forward passes what arrives on sigs (signal.Notify'd by the caller) to
// pid, and proxies pty when there is one.
func forward(pid int, pty *os.File, sigs chan os.Signal) *foreground {
	fg := &foreground{sigs: sigs, done: make(chan struct{}), restore: func() {}, pty: pty}
	if pty != nil {
		if restore, err := makeRaw(int(os.Stdin.Fd())); err == nil {
			fg.restore = restore
			resizePty(pty)
		}
		go io.Copy(pty, os.Stdin)
		fg.copying.Add(1)
		go func() {
			defer fg.copying.Done()
			io.Copy(os.Stdout, pty)
		}()
	}
	go func() {
		for {
			select {
			case <-fg.done:
				return
			case s := <-fg.sigs:
				sig := s.(unix.Signal)
				switch sig {
				case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
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
	// Stop hands every signal back one by one, each a round trip with the
	// runtime's signal thread (about 1 ms for all of them here): it runs
	// beside what the caller does next. A signal meanwhile lands in the
	// buffered channel, which nobody reads any more.
	go signal.Stop(fg.sigs)
	close(fg.done)
	if fg.pty != nil {
		// The payload is gone; drain what it wrote, then give the terminal back.
		fg.copying.Wait()
		fg.pty.Close()
	}
	fg.restore()
}

func resizePty(pty *os.File) {
	ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ)
	if err == nil {
		unix.IoctlSetWinsize(int(pty.Fd()), unix.TIOCSWINSZ, ws)
	}
}
