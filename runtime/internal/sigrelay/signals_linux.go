package sigrelay

import "golang.org/x/sys/unix"

// Forwardable lists every signal a Go process can take from the runtime and
// pass on: all but SIGKILL and SIGSTOP, which nobody can catch; the faults
// (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS), which the runtime
// turns into panics; SIGURG, its preemption signal; SIGPROF, its profiler's;
// SIGCHLD, which says nothing a waiter needs; and 32 and 33, which libc
// and the runtime's all-threads syscalls (setuid and the like) use.
func Forwardable() []unix.Signal {
	sigs := make([]unix.Signal, 0, 64)
	for s := unix.Signal(1); s <= 64; s++ {
		switch s {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL,
			unix.SIGTRAP, unix.SIGSYS, unix.SIGURG, unix.SIGPROF, unix.SIGCHLD, 32, 33:
			continue
		}
		sigs = append(sigs, s)
	}
	return sigs
}
