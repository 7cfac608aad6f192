package runtime

import (
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
	"pcr/runtime/internal/nsenter"
)

// IsInit says whether this process was re-exec'd as a container init or
// exec child; main calls Init before the CLI parses anything.
func IsInit() bool { return len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_PCR_SYNCFD") != "" }

// Init is the child side of create and exec. It never returns: it execs
// the payload or exits 1 after telling the parent why.
func Init() {
	// Credentials, capabilities, keepcaps, no_new_privs and the cgroup
	// namespace are per thread: every step and the final execve must run on
	// one thread, or the payload inherits a thread that was never changed.
	goruntime.LockOSThread()
	// A build without the C constructor (nsenter.ExeFDEnv) closes the
	// sealed binary's fd here.
	if fd, err := strconv.Atoi(os.Getenv(nsenter.ExeFDEnv)); err == nil && fd > 2 {
		unix.Close(fd)
		os.Unsetenv(nsenter.ExeFDEnv)
	}
	syncFD, err := strconv.Atoi(os.Getenv("_PCR_SYNCFD"))
	if err != nil {
		fmtlite.Fprintln(os.Stderr, "pcr init: bad _PCR_SYNCFD")
		os.Exit(1)
	}
	sock := syncSocket{f: os.NewFile(uintptr(syncFD), "sync")}
	err = runInit(sock)
	if err == nil {
		err = errors.New("init returned without exec")
	}
	sock.send(syncMsg{Type: msgError, Error: err.Error(), ExecFailed: execFailure(err)})
	os.Exit(1)
}

type initProc struct {
	cfg   *initConfig
	sock  syncSocket
	trace *Tracer
	fifo  int
	// fdDir is the host's /proc/self/fd, kept open across the chroot of a
	// container without a mount namespace, whose rootfs has no /proc.
	fdDir int
}

func runInit(sock syncSocket) error {
	m, _, err := sock.recv()
	if err != nil {
		return fmtlite.Errorf("read config: %w", err)
	}
	if m.Type != msgConfig || len(m.Config) == 0 {
		return fmtlite.Errorf("expected config, got %q", m.Type)
	}
	cfg, err := decodeInitConfig(m.Config)
	if err != nil {
		return fmtlite.Errorf("read config: %w", err)
	}
	p := &initProc{cfg: cfg, sock: sock, fifo: -1, fdDir: -1}
	p.trace = NewTracer(nil)
	if fd, err := strconv.Atoi(os.Getenv("_PCR_TRACEFD")); err == nil {
		p.trace = NewTracer(os.NewFile(uintptr(fd), "trace"))
		p.trace.who = "pcr init"
		if p.cfg.TraceStart != 0 {
			p.trace.start = time.Unix(0, p.cfg.TraceStart)
		}
		p.trace.Stage("init running in its namespaces")
	}
	if fd, err := strconv.Atoi(os.Getenv("_PCR_FIFOFD")); err == nil {
		p.fifo = fd
	}
	for _, k := range []string{"_PCR_SYNCFD", "_PCR_TRACEFD", "_PCR_FIFOFD"} {
		os.Unsetenv(k)
	}
	if p.cfg.Exec {
		return p.execProcess()
	}
	return p.initContainer()
}

func (p *initProc) initContainer() error {
	spec := p.cfg.Spec
	if p.cfg.NewCgroup {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmtlite.Errorf("unshare cgroup namespace: %w", err)
		}
		p.trace.Stage("cgroup namespace unshared")
	}
	if hasNS(spec, specs.MountNamespace) {
		if err := p.prepareRootfs(); err != nil {
			return err
		}
	} else {
		fd, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmtlite.Errorf("open /proc/self/fd: %w", err)
		}
		p.fdDir = fd
		if err := unix.Chroot(p.cfg.Rootfs); err != nil {
			return fmtlite.Errorf("chroot %s: %w", p.cfg.Rootfs, err)
		}
	}
	if err := unix.Chdir("/"); err != nil {
		return fmtlite.Errorf("chdir /: %w", err)
	}
	var console *os.File
	if spec.Process.Terminal {
		var err error
		if console, err = p.setupTerminal(); err != nil {
			return err
		}
		defer console.Close()
	}
	if err := writeSysctls(spec.Linux.Sysctl); err != nil {
		return err
	}
	if err := p.finishRootfs(); err != nil {
		return err
	}
	if hasNS(spec, specs.UTSNamespace) {
		if spec.Hostname != "" {
			if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
				return fmtlite.Errorf("sethostname %q: %w", spec.Hostname, err)
			}
		}
		if spec.Domainname != "" {
			if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
				return fmtlite.Errorf("setdomainname %q: %w", spec.Domainname, err)
			}
		}
	}
	if hasNS(spec, specs.NetworkNamespace) && nsPath(spec, specs.NetworkNamespace) == "" {
		// As runc does: a new network namespace gets a working loopback.
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	fin, err := p.prepareFinal(spec.Process)
	if err != nil {
		return err
	}
	if err := fin.dropPrivileges(); err != nil {
		return err
	}
	p.trace.Stage("user %d:%d set, capabilities dropped", spec.Process.User.UID, spec.Process.User.GID)
	if err := p.sock.send(syncMsg{Type: msgReady}); err != nil {
		return fmtlite.Errorf("tell parent ready: %w", err)
	}
	p.sock.f.Close()
	if err := p.waitStart(); err != nil {
		return err
	}
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		st := p.hookState(specs.StateCreated)
		if err := runHooks("startContainer", spec.Hooks.StartContainer, st); err != nil {
			// The parent is gone; stderr is all that is left to explain.
			fmtlite.Fprintf(os.Stderr, "pcr: %v\n", err)
			os.Exit(1)
		}
	}
	return fin.exec(p.trace)
}

func (p *initProc) hookState(status specs.ContainerState) specs.State {
	return specs.State{Version: specs.Version, ID: p.cfg.ID, Status: status, Pid: os.Getpid(),
		Bundle: p.cfg.Bundle, Annotations: p.cfg.Annotations}
}

// waitStart blocks until `pcr oci start` opens the fifo for reading.
func (p *initProc) waitStart() error {
	dir, name := unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(p.fifo)
	if p.fdDir >= 0 {
		dir, name = p.fdDir, strconv.Itoa(p.fifo)
	}
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmtlite.Errorf("open exec fifo: %w", err)
	}
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		return fmtlite.Errorf("write exec fifo: %w", err)
	}
	// fd stays open until execve closes it (O_CLOEXEC): start waits for that
	// EOF, so its poststart hooks run after startContainer and the exec.
	unix.Close(p.fifo)
	return nil
}

func (p *initProc) execProcess() error {
	spec := p.cfg.Spec
	var console *os.File
	if spec.Process.Terminal {
		var err error
		if console, err = p.setupTerminal(); err != nil {
			return err
		}
		defer console.Close()
	}
	fin, err := p.prepareFinal(spec.Process)
	if err != nil {
		return err
	}
	if err := fin.dropPrivileges(); err != nil {
		return err
	}
	if err := p.sock.send(syncMsg{Type: msgReady}); err != nil {
		return fmtlite.Errorf("tell parent ready: %w", err)
	}
	return fin.exec(p.trace)
}

// loopbackUp sets lo up in the init's new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmtlite.Errorf("bring up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmtlite.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmtlite.Errorf("bring up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmtlite.Errorf("bring up lo: %w", err)
	}
	return nil
}

func writeSysctls(sysctl map[string]string) error {
	for k, v := range sysctl {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if strings.Contains(k, "/") || strings.Contains(k, "..") {
			return fmtlite.Errorf("sysctl %q: invalid name", k)
		}
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmtlite.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}
