package caps

import "golang.org/x/sys/unix"

// Sets are a thread's five capability sets as bit masks, bit c standing for
// capability c (see Mask). The zero value is "no capabilities at all".
type Sets struct {
	Bounding    uint64
	Effective   uint64
	Permitted   uint64
	Inheritable uint64
	Ambient     uint64
}

// has reports whether capability c is in mask m.
func has(m uint64, c int) bool { return c < 64 && m&(1<<uint(c)) != 0 }

// ApplyBounding drops from the calling thread's bounding set every
// capability up to last (LastCap) that is not in s.Bounding.
//
// As moby/sys/capability does, it drops nothing when the thread lacks an
// effective CAP_SETPCAP (the kernel would refuse each drop), and it ignores
// EINVAL, which means the kernel does not know that capability.
func (s *Sets) ApplyBounding(last int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return &Error{Op: "read own capabilities (capget)", Cap: -1, Err: err}
	}
	if data[0].Effective&(1<<unix.CAP_SETPCAP) == 0 {
		return nil
	}
	for c := 0; c <= last; c++ {
		if has(s.Bounding, c) {
			continue
		}
		if e := prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 && e != unix.EINVAL {
			return &Error{Op: "drop from the bounding set", Cap: c, Err: e}
		}
	}
	return nil
}

// ApplyCaps sets the calling thread's effective, permitted and inheritable
// sets in one capset(2), with the v3 header (two 32-bit words per set, the
// low word first) and pid 0 for the calling thread.
func (s *Sets) ApplyCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(s.Effective), Permitted: uint32(s.Permitted), Inheritable: uint32(s.Inheritable)},
		{Effective: uint32(s.Effective >> 32), Permitted: uint32(s.Permitted >> 32), Inheritable: uint32(s.Inheritable >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return &Error{Op: "set effective, permitted and inheritable capabilities (capset)", Cap: -1, Err: err}
	}
	return nil
}

// ApplyAmbient makes the calling thread's ambient set s.Ambient (up to
// last): it clears the set, then raises each capability in it, the order
// moby/sys/capability uses. EINVAL is ignored throughout, as there: kernels
// before 4.3 have no ambient set, and a capability the kernel does not know
// cannot be raised. Raising needs the capability in both the permitted and
// the inheritable set, so ApplyCaps comes first.
func (s *Sets) ApplyAmbient(last int) error {
	if e := prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 && e != unix.EINVAL {
		return &Error{Op: "clear the ambient set", Cap: -1, Err: e}
	}
	for c := 0; c <= last; c++ {
		if !has(s.Ambient, c) {
			continue
		}
		if e := prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c)); e != 0 && e != unix.EINVAL {
			return &Error{Op: "raise in the ambient set", Cap: c, Err: e}
		}
	}
	return nil
}

// prctl is prctl(2) for the capability options, which take two arguments
// and need the rest zero. A raw syscall, as moby/sys/capability makes: these
// calls never block, and the init is changing its own credentials on a
// locked thread. It returns the errno, 0 for success.
func prctl(option int, arg2, arg3 uintptr) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, uintptr(option), arg2, arg3, 0, 0, 0)
	return e
}
