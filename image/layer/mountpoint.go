package layer

import "golang.org/x/sys/unix"

// IsMountPoint says whether path is the root of a mount (statx's mount-root
// attribute: one syscall, no mountinfo parsing, and right for bind mounts of
// the same filesystem, which a device-number comparison misses).
func IsMountPoint(path string) bool {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st); err != nil {
		return false
	}
	return st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// IsOpaque says whether dir, in an overlay upper or layer directory, is
// marked opaque (it hides everything below it).
func IsOpaque(dir string) bool { return isOpaque(dir) }
