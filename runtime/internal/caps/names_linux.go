package caps

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Known is how many capabilities this package has names for: the kernel's
// list up to CAP_CHECKPOINT_RESTORE (40), added in Linux 5.9 and still the
// last one. A kernel may know more; those have no name here and a spec
// cannot ask for them.
const Known = unix.CAP_CHECKPOINT_RESTORE + 1

// Name returns the kernel's name for capability c ("CAP_CHOWN" for 0), or ""
// for a number this package does not know. The numbers come from x/sys/unix,
// which copies them from include/uapi/linux/capability.h, so a name cannot
// drift onto the wrong number. A switch rather than a table keeps the list
// out of mutable package state.
func Name(c int) string {
	switch c {
	case unix.CAP_CHOWN:
		return "CAP_CHOWN"
	case unix.CAP_DAC_OVERRIDE:
		return "CAP_DAC_OVERRIDE"
	case unix.CAP_DAC_READ_SEARCH:
		return "CAP_DAC_READ_SEARCH"
	case unix.CAP_FOWNER:
		return "CAP_FOWNER"
	case unix.CAP_FSETID:
		return "CAP_FSETID"
	case unix.CAP_KILL:
		return "CAP_KILL"
	case unix.CAP_SETGID:
		return "CAP_SETGID"
	case unix.CAP_SETUID:
		return "CAP_SETUID"
	case unix.CAP_SETPCAP:
		return "CAP_SETPCAP"
	case unix.CAP_LINUX_IMMUTABLE:
		return "CAP_LINUX_IMMUTABLE"
	case unix.CAP_NET_BIND_SERVICE:
		return "CAP_NET_BIND_SERVICE"
	case unix.CAP_NET_BROADCAST:
		return "CAP_NET_BROADCAST"
	case unix.CAP_NET_ADMIN:
		return "CAP_NET_ADMIN"
	case unix.CAP_NET_RAW:
		return "CAP_NET_RAW"
	case unix.CAP_IPC_LOCK:
		return "CAP_IPC_LOCK"
	case unix.CAP_IPC_OWNER:
		return "CAP_IPC_OWNER"
	case unix.CAP_SYS_MODULE:
		return "CAP_SYS_MODULE"
	case unix.CAP_SYS_RAWIO:
		return "CAP_SYS_RAWIO"
	case unix.CAP_SYS_CHROOT:
		return "CAP_SYS_CHROOT"
	case unix.CAP_SYS_PTRACE:
		return "CAP_SYS_PTRACE"
	case unix.CAP_SYS_PACCT:
		return "CAP_SYS_PACCT"
	case unix.CAP_SYS_ADMIN:
		return "CAP_SYS_ADMIN"
	case unix.CAP_SYS_BOOT:
		return "CAP_SYS_BOOT"
	case unix.CAP_SYS_NICE:
		return "CAP_SYS_NICE"
	case unix.CAP_SYS_RESOURCE:
		return "CAP_SYS_RESOURCE"
	case unix.CAP_SYS_TIME:
		return "CAP_SYS_TIME"
	case unix.CAP_SYS_TTY_CONFIG:
		return "CAP_SYS_TTY_CONFIG"
	case unix.CAP_MKNOD:
		return "CAP_MKNOD"
	case unix.CAP_LEASE:
		return "CAP_LEASE"
	case unix.CAP_AUDIT_WRITE:
		return "CAP_AUDIT_WRITE"
	case unix.CAP_AUDIT_CONTROL:
		return "CAP_AUDIT_CONTROL"
	case unix.CAP_SETFCAP:
		return "CAP_SETFCAP"
	case unix.CAP_MAC_OVERRIDE:
		return "CAP_MAC_OVERRIDE"
	case unix.CAP_MAC_ADMIN:
		return "CAP_MAC_ADMIN"
	case unix.CAP_SYSLOG:
		return "CAP_SYSLOG"
	case unix.CAP_WAKE_ALARM:
		return "CAP_WAKE_ALARM"
	case unix.CAP_BLOCK_SUSPEND:
		return "CAP_BLOCK_SUSPEND"
	case unix.CAP_AUDIT_READ:
		return "CAP_AUDIT_READ"
	case unix.CAP_PERFMON:
		return "CAP_PERFMON"
	case unix.CAP_BPF:
		return "CAP_BPF"
	case unix.CAP_CHECKPOINT_RESTORE:
		return "CAP_CHECKPOINT_RESTORE"
	}
	return ""
}

// Lookup returns the number of the capability called name. Case does not
// matter ("cap_chown" is CAP_CHOWN), as with runc and with the
// strings.ToUpper match pcr used before; the CAP_ prefix is required.
func Lookup(name string) (int, bool) {
	upper := strings.ToUpper(name)
	for c := 0; c < Known; c++ {
		if Name(c) == upper {
			return c, true
		}
	}
	return -1, false
}

// Mask is the bit mask of the named capabilities. A name this package does
// not know, or one above last (the running kernel's highest capability, see
// LastCap), is handed to unknown instead; Mask stops at the first error
// unknown returns, so a caller chooses between warning and refusing.
func Mask(names []string, last int, unknown func(name string) error) (uint64, error) {
	var m uint64
	for _, n := range names {
		c, ok := Lookup(n)
		if !ok || c > last {
			if err := unknown(n); err != nil {
				return m, err
			}
			continue
		}
		m |= 1 << uint(c)
	}
	return m, nil
}
