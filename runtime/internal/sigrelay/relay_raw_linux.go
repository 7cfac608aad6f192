//go:build amd64 || arm64

package sigrelay

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// relayFD is the write end of the process's relay pipe: the handler, which
// runs in signal context and can reach nothing but globals, writes each
// caught signal's number to it. -1 until the first Start; it never changes
// after that, because a handler still running on another thread when a
// Relay stops must never find the number reused by some other file.
var relayFD int32 = -1

// handlerPC and restorerPC are the addresses of the assembly handler and of
// the sigreturn trampoline the kernel returns through (constants, set in
// the assembly).
var handlerPC, restorerPC uintptr

// The kernel's struct sigaction on amd64 and arm64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saRestorer = 0x04000000
	saOnStack  = 0x08000000 // on the signal stack the Go runtime gives every thread
	saRestart  = 0x10000000
)

// process is the relay state the whole process shares: its pipe, made on
// the first Start, and whether a Relay holds signals now.
var process struct {
	sync.Mutex
	read *os.File // the read end, non-blocking, read through the poller
	rfd  int      // the same, for draining it without the poller
	held bool
}

// Relay holds a set of signals for one caller until Stop.
type Relay struct {
	old  []caught
	done chan struct{}
}

type caught struct {
	sig unix.Signal
	act sigaction
}

// Start takes sigs from the Go runtime and calls fn with each as it
// arrives, on a goroutine of the relay's own, until Stop. Signals that
// arrive together may be delivered once, as with os/signal.
func Start(sigs []unix.Signal, fn func(unix.Signal)) (*Relay, error) {
	process.Lock()
	defer process.Unlock()
	if process.held {
		return nil, errors.New("relay signals: another relay holds them")
	}
	if process.read == nil {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			return nil, os.NewSyscallError("relay signals: pipe2", err)
		}
		process.read, process.rfd = os.NewFile(uintptr(p[0]), "signal relay"), p[0]
		atomic.StoreInt32(&relayFD, int32(p[1]))
	} else {
		drain(process.rfd)
	}
	rl := &Relay{old: make([]caught, 0, len(sigs)), done: make(chan struct{})}
	act := sigaction{handler: handlerPC, flags: saOnStack | saRestart | saRestorer, restorer: restorerPC}
	for _, s := range sigs {
		var old sigaction
		if err := rtSigaction(s, &act, &old); err != nil {
			rl.restore()
			return nil, os.NewSyscallError("relay signals: rt_sigaction "+unix.SignalName(s), err)
		}
		rl.old = append(rl.old, caught{s, old})
	}
	process.held = true
	go rl.deliver(process.read, fn)
	return rl, nil
}

// Stop gives the signals back to the handlers they had before Start. fn
// has been called for every signal that arrived before, and is not called
// again, when Stop returns.
func (rl *Relay) Stop() {
	process.Lock()
	defer process.Unlock()
	rl.restore()
	// Signal 0 does not exist: a 0 byte tells deliver to return.
	for {
		_, err := unix.Write(int(atomic.LoadInt32(&relayFD)), []byte{0})
		if err != unix.EINTR && err != unix.EAGAIN {
			break
		}
	}
	<-rl.done
	process.held = false
}

func (rl *Relay) restore() {
	for _, c := range rl.old {
		rtSigaction(c.sig, &c.act, nil)
	}
	rl.old = nil
}

func (rl *Relay) deliver(pipe *os.File, fn func(unix.Signal)) {
	defer close(rl.done)
	var buf [64]byte
	for {
		n, err := pipe.Read(buf[:])
		if err != nil {
			return
		}
		for _, b := range buf[:n] {
			if b == 0 {
				return
			}
			fn(unix.Signal(b))
		}
	}
}

// drain empties the pipe of what handlers still running at the last Stop
// wrote after it.
func drain(fd int) {
	var buf [64]byte
	for {
		if n, _ := unix.Read(fd, buf[:]); n <= 0 {
			return
		}
	}
}

func rtSigaction(sig unix.Signal, act, old *sigaction) error {
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)),
		uintptr(unsafe.Pointer(old)), unsafe.Sizeof(act.mask), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
