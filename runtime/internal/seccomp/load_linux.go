package seccomp

import (
	"errors"
	"os"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// filterFlags maps the profile's flags to SECCOMP_FILTER_FLAG_* bits.
func filterFlags(flags []specs.LinuxSeccompFlag) (uint, error) {
	var bits uint
	for _, f := range flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			bits |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			bits |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
			bits |= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		case "SECCOMP_FILTER_FLAG_TSYNC":
			bits |= unix.SECCOMP_FILTER_FLAG_TSYNC
		default:
			return 0, fmtlite.Errorf("unknown seccomp flag %q", f)
		}
	}
	return bits, nil
}

// FlagBits is flags as SECCOMP_FILTER_FLAG_* bits, for a loader outside Go.
func FlagBits(flags []specs.LinuxSeccompFlag) (uint, error) { return filterFlags(flags) }

// Load installs prog as a seccomp filter of the calling process. The caller
// has set no_new_privs on the calling thread or holds CAP_SYS_ADMIN, and
// should stay locked to that thread until it execs.
//
// The filter is always installed with SECCOMP_FILTER_FLAG_TSYNC: the Go
// runtime runs goroutines on several threads, and a filter on the loading
// thread alone would let an exec from any other thread escape it.
// Kernels without seccomp(2) (before 3.17) get prctl(PR_SET_SECCOMP), which
// takes no flags, so the profile must not ask for any there.
func Load(prog []unix.SockFilter, flags []specs.LinuxSeccompFlag) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmtlite.Errorf("load seccomp filter: program has %d instructions, want 1 to %d", len(prog), maxInsns)
	}
	bits, err := filterFlags(flags)
	if err != nil {
		return fmtlite.Errorf("load seccomp filter: %w", err)
	}
	fprog := &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r1, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		uintptr(bits|unix.SECCOMP_FILTER_FLAG_TSYNC), uintptr(unsafe.Pointer(fprog)))
	runtime.KeepAlive(fprog)
	switch {
	case errno == unix.ENOSYS && bits == 0:
		if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(fprog)), 0, 0); err != nil {
			return fmtlite.Errorf("load seccomp filter (%d instructions): %w", len(prog), os.NewSyscallError("prctl PR_SET_SECCOMP", err))
		}
		runtime.KeepAlive(fprog)
		return nil
	case errno != 0:
		err := error(os.NewSyscallError("seccomp SECCOMP_SET_MODE_FILTER", errno))
		if errors.Is(errno, unix.EACCES) {
			err = fmtlite.Errorf("%w (no_new_privs is not set on this thread and CAP_SYS_ADMIN is missing)", err)
		}
		return fmtlite.Errorf("load seccomp filter (%d instructions, flags %#x): %w", len(prog), bits, err)
	case r1 != 0:
		// With TSYNC a positive return names a thread whose filter could
		// not be synchronised; nothing was installed.
		return fmtlite.Errorf("load seccomp filter: thread %d cannot take the filter (it has a diverging seccomp filter)", r1)
	}
	return nil
}
