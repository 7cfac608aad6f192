package runtime

import (
	"os"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// sendConsole hands the pty master to whoever listens on the console
// socket, as runc does (podman's conmon, `recvtty`). Raw syscalls rather
// than package net, which would otherwise be linked into pcr-init and add
// its package initialisation to every container start.
func sendConsole(path string, master *os.File) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmtlite.Errorf("console socket %s: %w", path, err)
	}
	defer unix.Close(fd)
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmtlite.Errorf("console socket %s: connect: %w", path, err)
	}
	if err := unix.Sendmsg(fd, []byte(master.Name()), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmtlite.Errorf("send pty master to %s: %w", path, err)
	}
	return nil
}
