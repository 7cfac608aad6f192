//go:build linux

package monitor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The start helper's inherited descriptors (see the package comment).
const (
	reportFD  = 3 // pipe to Start's caller
	monitorFD = 4 // seqpacket socket to the monitor
)

// ReportStarted is called by the start helper once the container runs: it
// tells the monitor (fd 4: "PID" and, when ptyMaster != nil, the master fd by
// SCM_RIGHTS) and then Start's caller (fd 3). Then the helper exits 0.
func ReportStarted(pid int, ptyMaster *os.File) error {
	if pid <= 0 {
		return fmt.Errorf("report container start: bad pid %d", pid)
	}
	if err := checkFD(monitorFD, unix.S_IFSOCK); err != nil {
		return err
	}
	if err := checkFD(reportFD, unix.S_IFIFO); err != nil {
		return err
	}
	var rights []byte
	if ptyMaster != nil {
		rights = unix.UnixRights(int(ptyMaster.Fd()))
	}
	// The monitor first: once Start returns, its caller may look for the
	// container's log and exit record.
	if err := unix.Sendmsg(monitorFD, []byte(strconv.Itoa(pid)), rights, nil, 0); err != nil {
		return fmt.Errorf("report container start to the monitor: %w", err)
	}
	unix.Close(monitorFD)
	err := writeReport("ok " + strconv.Itoa(pid))
	unix.Close(reportFD)
	return err
}

// ReportFailed is called by the start helper when creating/starting failed,
// before it exits non-zero. Start returns err's text (first line) as its error.
func ReportFailed(err error) {
	msg := "start helper failed"
	if err != nil {
		msg = err.Error()
	}
	msg, _, _ = strings.Cut(msg, "\n")
	if checkFD(reportFD, unix.S_IFIFO) == nil {
		_ = writeReport("error " + msg)
	}
}

func writeReport(line string) error {
	b := []byte(line + "\n")
	for len(b) > 0 {
		n, err := unix.Write(reportFD, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("report to the engine: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// checkFD makes sure fd is what the monitor passed, not whatever a process
// started some other way happens to hold there.
func checkFD(fd int, kind uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("report container start: fd %d: %w (not started by the monitor?)", fd, err)
	}
	if st.Mode&unix.S_IFMT != kind {
		return errors.New("report container start: fd " + strconv.Itoa(fd) + " is not the monitor's (not started by the monitor?)")
	}
	return nil
}
