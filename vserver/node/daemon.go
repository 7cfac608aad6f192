package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"pcr/engine"
	"pcr/image"
	"pcr/vserver"
)

// Config is `pcr node serve`'s flags.
type Config struct {
	Root, State string
	// SlicesFile is --slices: the local file that assigns vservers.
	SlicesFile string
	// Source assigns vservers instead of SlicesFile (the authority's).
	Source Source
	// PolicyFile is --policy, re-read on SIGHUP; empty: no policy.
	PolicyFile string
	// Socket is the API's unix socket; empty: DefaultSocket(State).
	Socket string
	// Interval is between periodic passes (10s), StatsInterval between
	// usage samples (15s).
	Interval, StatsInterval time.Duration
	// MetricsAddr serves Prometheus /metrics when set (":9101" is
	// loopback only).
	MetricsAddr string
	Log         *slog.Logger
}

// Defaults of Config's durations.
const (
	DefaultInterval      = 10 * time.Second
	DefaultStatsInterval = 15 * time.Second
	// watchInterval is the cheap check for crashed and expired vservers.
	watchInterval = time.Second
)

// daemon is one running node manager.
type daemon struct {
	cfg     Config
	log     *slog.Logger
	eng     *engine.Engine
	mgr     *vserver.Manager
	rec     *Reconciler
	smp     *sampler
	src     Source
	parent  *vserverParent // nil: the reserve is enforced at admission only
	started time.Time

	// images is the store Capacity lists, opened on first use.
	imagesOnce sync.Once
	images     *image.Store
	imagesErr  error
}

func (d *daemon) cgroupParent() string {
	if d.parent == nil {
		return ""
	}
	return d.parent.path
}

func (d *daemon) info() *NodeInfo {
	n := &NodeInfo{Pid: os.Getpid(), Root: d.eng.Root(), Started: d.started, PolicyFile: d.cfg.PolicyFile,
		Policy: d.rec.Policy(), CgroupParent: d.cgroupParent(), Vservers: map[string]int{}}
	if d.src != nil {
		n.Source = d.src.Name()
		if e, ok := d.src.(interface{ Err() error }); ok && e.Err() != nil {
			n.SourceError = e.Err().Error()
		}
	}
	if all, err := d.mgr.List(); err == nil {
		for _, v := range all {
			n.Vservers[v.State]++
		}
	}
	last, err := d.rec.Last()
	n.LastReconcile = last
	if err != nil {
		n.LastError = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return n
}

// Serve runs the node manager until ctx ends or SIGTERM/SIGINT: it
// adopts the vservers there are, reconciles them with the source and the
// policy at start, every interval, on a source change, on SIGHUP (which
// also re-reads the policy) and when a vserver stops or expires, and
// serves the local API. The vservers outlive it: shutdown stops none.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket(cfg.State)
	}
	log := cfg.Log
	var pol *Policy
	if cfg.PolicyFile != "" {
		var err error
		if pol, err = LoadPolicy(cfg.PolicyFile); err != nil {
			return err
		}
	}
	eng, err := engine.New(cfg.Root, cfg.State)
	if err != nil {
		return err
	}
	unlock, err := lockRoot(eng.Root())
	if err != nil {
		return err
	}
	defer unlock()
	// The Manager logs nothing: the node manager writes one line per
	// action itself, with the reason.
	mgr, err := vserver.New(eng, nil)
	if err != nil {
		return err
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		addr, err := MetricsListenAddr(cfg.MetricsAddr)
		if err != nil {
			return err
		}
		if metricsLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer metricsLn.Close()
	}
	ln, err := listenSocket(cfg.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Socket)
	defer ln.Close()

	ctx, stop := signal.NotifyContext(ctx, unix.SIGTERM, unix.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, unix.SIGHUP)
	defer signal.Stop(hup)

	d := &daemon{cfg: cfg, log: log, eng: eng, mgr: mgr, started: time.Now().UTC()}
	if d.parent, err = openVserverParent(eng.Root(), pol); err != nil {
		log.Warn("no cgroup for the vservers; the node's reserve is kept by admission only", "error", err.Error())
	}
	d.src = cfg.Source
	if d.src == nil && cfg.SlicesFile != "" {
		d.src = NewFileSource(ctx, cfg.SlicesFile, log)
	}
	d.smp = newSampler(mgr, log)
	met := newMetrics(mgr, d.smp)
	d.rec = NewReconciler(mgr, d.src, pol, d.cgroupParent(), log)
	d.rec.observe = met.observe

	attrs := []any{"pid", os.Getpid(), "root", eng.Root(), "socket", cfg.Socket, "interval", cfg.Interval.String()}
	if d.src != nil {
		attrs = append(attrs, "source", d.src.Name())
	}
	if cfg.SlicesFile != "" && cfg.Source == nil {
		attrs = append(attrs, "slices", cfg.SlicesFile)
	}
	if cfg.PolicyFile != "" {
		attrs = append(attrs, "policy", cfg.PolicyFile)
	}
	if d.parent != nil {
		attrs = append(attrs, "cgroup_parent", d.parent.path)
	}
	if metricsLn != nil {
		attrs = append(attrs, "metrics", metricsLn.Addr().String())
	}
	log.Info("node manager started", attrs...)

	var wg sync.WaitGroup
	srv := &http.Server{Handler: (&server{d: d, log: log}).handler(), ConnContext: peerOf, ReadHeaderTimeout: 10 * time.Second}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve the API", "socket", cfg.Socket, "error", err.Error())
		}
	})
	if metricsLn != nil {
		wg.Go(func() {
			if err := serveMetrics(ctx, metricsLn, met, log); err != nil {
				log.Error("metrics", "error", err.Error())
			}
		})
	}
	wg.Go(func() { d.smp.run(ctx, cfg.StatsInterval) })

	if a, ok := d.src.(Attacher); ok {
		a.Attach(daemonNode{d})
	}
	d.loop(ctx, hup)

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	srv.Shutdown(sctx)
	cancel()
	wg.Wait()
	if d.parent != nil {
		if removed, err := d.parent.remove(); err != nil {
			log.Warn("remove the vservers' cgroup", "cgroup", d.parent.path, "error", err.Error())
		} else if !removed {
			log.Info("the vservers' cgroup stays for the vservers in it", "cgroup", d.parent.path)
		}
	}
	log.Info("node manager stopped", "pid", os.Getpid(), "reason", "signal or shutdown; vservers keep running")
	return nil
}

// loop runs reconcile passes until ctx ends.
func (d *daemon) loop(ctx context.Context, hup <-chan os.Signal) {
	var changed <-chan struct{}
	if d.src != nil {
		changed = d.src.Changed()
	}
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	watch := time.NewTicker(watchInterval)
	defer watch.Stop()
	lastErr := ""
	observer, _ := d.src.(PassObserver)
	pass := func(why string) {
		err := d.rec.Reconcile(ctx)
		if observer != nil && ctx.Err() == nil {
			if all, lerr := d.mgr.List(); lerr == nil {
				observer.Passed(all)
			}
		}
		msg := ""
		if err != nil && ctx.Err() == nil {
			msg = strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		if msg != lastErr {
			if msg != "" {
				d.log.Warn("reconcile pass failed", "trigger", why, "error", msg)
			} else {
				d.log.Info("reconcile pass went through", "trigger", why)
			}
			lastErr = msg
		}
	}
	pass("start-up")
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			pass("interval")
		case <-changed:
			pass("source changed")
		case <-hup:
			d.reloadPolicy()
			pass("SIGHUP")
			if d.parent != nil {
				// A lower reserve may have been refused above the
				// vservers' old limits, which the pass has now lowered.
				if err := d.parent.limit(d.rec.Policy()); err != nil {
					d.log.Warn("limit the vservers' cgroup", "error", err.Error())
				}
			}
		case <-watch.C:
			if ok, err := d.rec.pending(); err == nil && ok {
				pass("a vserver stopped, expired or is due for a retry")
			}
		}
	}
}

// reloadPolicy re-reads --policy; a bad file is reported and the policy
// in force kept.
func (d *daemon) reloadPolicy() {
	if d.cfg.PolicyFile == "" {
		d.log.Info("SIGHUP: no policy file to reload; reconciling")
		return
	}
	pol, err := LoadPolicy(d.cfg.PolicyFile)
	if err != nil {
		d.log.Error("policy not reloaded; keeping the previous one", "file", d.cfg.PolicyFile, "error", err.Error())
		return
	}
	d.rec.SetPolicy(pol)
	d.log.Info("policy reloaded", "file", d.cfg.PolicyFile)
	if d.parent != nil {
		if err := d.parent.limit(pol); err != nil {
			d.log.Info("vservers' cgroup limit waits for the vservers to be lowered", "error", err.Error())
		}
	}
}

// lockRoot makes sure one node manager at a time keeps a root's vservers.
func lockRoot(root string) (func(), error) {
	path := filepath.Join(root, "node.lock")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer unix.Close(fd)
		if err == unix.EWOULDBLOCK {
			buf := make([]byte, 32)
			n, _ := unix.Pread(fd, buf, 0)
			pid := strings.TrimSpace(string(buf[:max(n, 0)]))
			return nil, fmt.Errorf("another node manager (pid %s) runs for root %s", cmpOr(pid, "unknown"), root)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	unix.Ftruncate(fd, 0)
	unix.Pwrite(fd, []byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		unix.Ftruncate(fd, 0)
		unix.Close(fd)
	}, nil
}

// listenSocket listens on path, replacing the socket a killed node
// manager left, never one another node manager still answers on.
func listenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("socket %s: a file that is not a socket is in the way", path)
		}
		if c, err := net.DialTimeout("unix", path, dialTimeout); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another node manager is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("socket %s: remove the stale socket: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	// Everyone may connect; who may do what is decided per request from
	// the peer's credentials.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	return ln, nil
}
