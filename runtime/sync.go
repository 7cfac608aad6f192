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
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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
	ExecFailed string      `json:"execFailed,omitempty"`
	Pid        int         `json:"pid,omitempty"`
	Config     *initConfig `json:"config,omitempty"`
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

type syncSocket struct{ f *os.File }

func newSyncPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

func (s syncSocket) send(m syncMsg, fds ...int) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(int(s.f.Fd()), data, oob, nil, 0)
}

var errSyncEOF = errors.New("peer closed the sync socket")

// recv reads one message; fds passed with it are returned.
func (s syncSocket) recv() (syncMsg, []int, error) {
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(s.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return syncMsg{}, nil, err
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
		var m syncMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return syncMsg{}, fds, fmt.Errorf("bad sync message %q: %w", buf[:n], err)
		}
		return m, fds, nil
	}
}
