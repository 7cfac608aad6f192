package runtime

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// setupTerminal opens a pty inside the container (its own devpts), makes
// the slave our controlling terminal and stdio, and sends the master to
// the parent.
func (p *initProc) setupTerminal() (*os.File, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmtlite.Errorf("open /dev/ptmx: %w", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmtlite.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return nil, fmtlite.Errorf("get pty number: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmtlite.Errorf("open %s: %w", slavePath, err)
	}
	if cs := p.cfg.Spec.Process.ConsoleSize; cs != nil {
		unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)})
	}
	if !p.cfg.Exec {
		if err := mkTarget("/dev/console", false); err == nil {
			if err := unix.Mount(slavePath, "/dev/console", "", unix.MS_BIND, ""); err != nil {
				return nil, fmtlite.Errorf("bind %s on /dev/console: %w", slavePath, err)
			}
		}
	}
	if _, err := unix.Setsid(); err != nil {
		return nil, fmtlite.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return nil, fmtlite.Errorf("set controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return nil, fmtlite.Errorf("dup pty to fd %d: %w", fd, err)
		}
	}
	if err := p.sock.send(syncMsg{Type: msgPty}, int(master.Fd())); err != nil {
		return nil, fmtlite.Errorf("send pty master: %w", err)
	}
	return slave, nil
}
