package runtime

// The parent (pcr create/exec) and the re-exec'd init talk over one
// SOCK_SEQPACKET socket pair, one JSON message per packet:
//
//	parent                              init / exec child
//	  |  <-- pid       (nsenter forked; real pid)   [only when the C part forks]
//	  |  <-- error     (any stage; init exits 1)
//	  |  --> config    (initConfig: spec, rootfs, flags)
//	  |  <-- hooks     (mounts done, before pivot_root)
//	  |  --> hooks-done (prestart + createRuntime ran)
//	  |  <-- pty + fd  (terminal: the pty master, SCM_RIGHTS)
//	  |  <-- ready     (waiting on exec.fifo / about to execve)
//
// The C init (fastplan.go) gets a plan, not JSON, in place of config, and
// may answer "fallback" (it exits; the parent starts the Go init instead).
//
// The socket closes on exec (O_CLOEXEC), so EOF before "ready" always means
// the child died, and the parent reports why.

import (
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

const (
	msgPid       = "pid"
	msgError     = "error"
	msgConfig    = "config"
	msgHooks     = "hooks"
	msgHooksDone = "hooks-done"
	msgPty       = "pty"
	msgReady     = "ready"
	msgFallback  = "fallback"
)

type syncMsg struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	// ExecFailed classifies an error that stopped the payload's exec
	// ("not-found" or "cannot-exec"), so callers can map it to 127/126.
	ExecFailed string `json:"execFailed,omitempty"`
	Pid        int    `json:"pid,omitempty"`
	// Config is an initConfig, encoded. Left as bytes here, so that the
	// parent decoding its init's small replies never has encoding/json
	// build the decoders of initConfig, which holds the whole spec.
	Config rawJSON `json:"config,omitempty"`
}

// initConfig is everything the child needs; sent once so the child never
// re-reads config.json.
type initConfig struct {
	Exec        bool              `json:"exec,omitempty"`
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Spec        *specs.Spec       `json:"spec"`
	Rootfs      string            `json:"rootfs"`
	NoPivot     bool              `json:"noPivot,omitempty"`
	UserNS      bool              `json:"userNS,omitempty"`
	NewCgroup   bool              `json:"newCgroupNS,omitempty"`
	CgroupV2    bool              `json:"cgroupV2,omitempty"`
	CgroupDirs  map[string]string `json:"cgroupDirs,omitempty"`
	TraceStart  int64             `json:"traceStart,omitempty"`
	PreserveFDs int               `json:"preserveFDs,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type syncSocket struct {
	f     *os.File
	limit int // the longest message recv takes; 0: configMsgMax
}

// newSyncPair makes the parent's and the child's ends. The parent's is
// non-blocking, so waiting on it parks the goroutine in the runtime's
// poller: a read blocked in the kernel instead has the Go scheduler hand
// its P to another thread and back (futex wake-ups and context switches,
// hundreds per container, each costly on a hypervisor). The child's stays
// blocking: the C init and the Go init read it plainly.
func newSyncPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmtlite.Errorf("socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmtlite.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

func (s syncSocket) send(m syncMsg, fds ...int) error {
	data := m.encode()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return s.sendmsg(data, oob)
}

// sendmsg sends one datagram through the poller (os.File.Fd would make
// the socket blocking again).
func (s syncSocket) sendmsg(data, oob []byte) error {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		for {
			serr = unix.Sendmsg(int(fd), data, oob, nil, 0)
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

var errSyncEOF = errors.New("peer closed the sync socket")

// What one message may take: the init reads its whole config (the spec)
// in one; the parent reads a pid, a ready or an error line.
const (
	configMsgMax = 1 << 20
	initMsgMax   = 64 << 10
)

// recv reads one message; fds passed with it are returned.
func (s syncSocket) recv() (syncMsg, []int, error) {
	limit := s.limit
	if limit == 0 {
		limit = configMsgMax
	}
	oob := make([]byte, unix.CmsgSpace(4*4))
	rc, err := s.f.SyscallConn()
	if err != nil {
		return syncMsg{}, nil, err
	}
	for {
		var n, oobn, flags int
		var rerr error
		var buf []byte
		if err := rc.Read(func(fd uintptr) bool {
			// The packet's length first (MSG_TRUNC gives it whole): most
			// are a few dozen bytes, and a buffer of the limit for each
			// was 64 KB of heap apiece in the parent.
			n, _, _, _, rerr = unix.Recvmsg(int(fd), nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
			if rerr != nil {
				return rerr != unix.EAGAIN
			}
			buf = make([]byte, min(max(n, 1), limit))
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
			return rerr != unix.EAGAIN
		}); err != nil {
			return syncMsg{}, nil, err
		}
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return syncMsg{}, nil, rerr
		}
		if n == 0 && oobn == 0 {
			return syncMsg{}, nil, errSyncEOF
		}
		var fds []int
		if oobn > 0 {
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err == nil {
				for _, c := range cmsgs {
					if got, err := unix.ParseUnixRights(&c); err == nil {
						fds = append(fds, got...)
					}
				}
			}
		}
		if flags&unix.MSG_TRUNC != 0 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return syncMsg{}, nil, fmtlite.Errorf("sync message over %d bytes: %.200q…", limit, buf)
		}
		m, err := decodeSyncMsg(buf[:n])
		if err != nil {
			return syncMsg{}, fds, fmtlite.Errorf("bad sync message %q: %w", buf[:n], err)
		}
		return m, fds, nil
	}
}
