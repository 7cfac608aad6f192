package caps

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lastCapPath is where the kernel publishes its highest capability number.
const lastCapPath = "/proc/sys/kernel/cap_last_cap"

// maxLastCap is the highest capability the v3 capget/capset ABI can carry
// (two 32-bit words per set); moby/sys/capability clamps there too.
const maxLastCap = 63

// LastCap returns the running kernel's highest capability number.
//
// The container init calls it after pivot_root, where /proc may not be
// mounted or /proc/sys may be masked; moby/sys/capability, which pcr used
// before, never needed /proc for this, so when the file cannot be read the
// answer comes from probing the bounding set with PR_CAPBSET_READ instead.
// The file's error is the one returned when both fail.
func LastCap() (int, error) {
	last, err := readLastCap()
	if err != nil {
		probed, perr := probeLastCap()
		if perr != nil {
			return 0, err
		}
		last = probed
	}
	return min(last, maxLastCap), nil
}

// readLastCap reads lastCapPath.
func readLastCap() (int, error) {
	b, err := os.ReadFile(lastCapPath)
	if err != nil {
		return 0, err // an *fs.PathError: "open /proc/sys/kernel/cap_last_cap: ..."
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, &fs.PathError{Op: "parse", Path: lastCapPath, Err: err}
	}
	if n < 0 {
		return 0, &fs.PathError{Op: "parse", Path: lastCapPath, Err: errors.New("negative capability number " + strconv.Itoa(n))}
	}
	return n, nil
}

// probeLastCap finds the highest capability the way moby/sys/capability
// does: the kernel answers EINVAL to PR_CAPBSET_READ for a number it does
// not know. It starts at CAP_CHECKPOINT_RESTORE, the last one known today,
// so on most kernels two calls settle it.
func probeLastCap() (int, error) {
	const minLastCap = unix.CAP_WAKE_ALARM // Linux 3.0; Go needs 3.2 or newer
	c := Known - 1
	ok, err := capValid(c)
	if err != nil {
		return 0, err
	}
	if ok {
		for c < maxLastCap {
			if ok, err = capValid(c + 1); err != nil {
				return 0, err
			}
			if !ok {
				break
			}
			c++
		}
		return c, nil
	}
	for c > minLastCap {
		c--
		if ok, err = capValid(c); err != nil {
			return 0, err
		}
		if ok {
			return c, nil
		}
	}
	return 0, &Error{Op: "read the bounding set (PR_CAPBSET_READ) of", Cap: minLastCap, Err: unix.EINVAL}
}

// capValid reports whether the running kernel knows capability c.
func capValid(c int) (bool, error) {
	e := prctl(unix.PR_CAPBSET_READ, uintptr(c), 0)
	switch e {
	case 0:
		return true, nil
	case unix.EINVAL:
		return false, nil
	}
	return false, &Error{Op: "read the bounding set (PR_CAPBSET_READ) for", Cap: c, Err: e}
}
