// Package follow is the node side of the slice authority: a node.Source
// that follows a node's assignment over the authority's watch stream,
// joins the authority with a one-time token on first start, reports the
// node's capacity and vservers, and runs the exec jobs handed to it.
package follow

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/vserver"
	"pcr/vserver/node"
)

// SourceName is the origin recorded on the vservers the authority
// assigns.
const SourceName = "authority"

// Defaults of Config's intervals.
const (
	DefaultReportInterval = 10 * time.Second
	DefaultResyncInterval = 2 * time.Minute
)

// Config is what `pcr node serve --authority` is given.
type Config struct {
	// Authority is the authority's URL, https://HOST:PORT.
	Authority string
	// Name is the node's name at the authority (its certificate's CN).
	Name string
	// CAFile verifies the authority; CertFile and KeyFile are the node's
	// identity, written by the join when CertFile does not exist yet.
	CAFile, CertFile, KeyFile string
	// JoinToken is the one-time token of `pcr authority node add`.
	JoinToken string
	// Address is the node's underlay address it reports; empty: the
	// address of the interface of the default route, if any.
	Address string
	// ReportInterval is between heartbeats (10s), ResyncInterval between
	// full reads of the assignment besides the watch stream (2m).
	ReportInterval, ResyncInterval time.Duration
	Log                            *slog.Logger
}

// Follower is the authority as the node manager's Source.
type Follower struct {
	cfg     Config
	client  *api.Client
	log     *slog.Logger
	ctx     context.Context
	changed chan struct{}
	// kick asks the report loop for a report now; one waiting is enough.
	kick chan struct{}

	mu       sync.Mutex
	assigned *api.Assignment // nil until the first one arrives
	connErr  error
	node     node.Node
	// seen are the exec jobs taken, by id, with their deadline (to forget
	// them once long past).
	seen map[string]time.Time
	// reported is the vservers' states as last reported, to report a
	// change at once and nothing more.
	reported string
}

// New joins the authority if the node has no certificate yet, then
// follows its assignment until ctx ends. A node the authority refuses
// (a wrong name, a revoked certificate) fails here with the authority's
// line; an authority that cannot be reached does not: the node manager
// runs on with what it has, and the follower keeps trying.
func New(ctx context.Context, cfg Config) (*Follower, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress()
	}
	if err := join(ctx, cfg); err != nil {
		return nil, err
	}
	tlsConf, err := ca.ClientTLS(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("follow the authority as node %s: %w", cfg.Name, err)
	}
	client, err := api.NewClient(cfg.Authority, tlsConf)
	if err != nil {
		return nil, err
	}
	f := &Follower{cfg: cfg, client: client, log: cfg.Log, ctx: ctx,
		changed: make(chan struct{}, 1), kick: make(chan struct{}, 1), seen: map[string]time.Time{}}
	if err := f.firstRead(); err != nil {
		return nil, err
	}
	go f.watch(ctx)
	go f.resync(ctx)
	return f, nil
}

func (c Config) check() error {
	var missing []string
	for _, f := range []struct{ flag, value string }{
		{"--authority", c.Authority}, {"--name", c.Name}, {"--ca", c.CAFile}, {"--cert", c.CertFile}, {"--key", c.KeyFile},
	} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("follow the authority: missing %s", joinWords(missing))
	}
	return nil
}

// firstReadTimeout bounds the start-up read: an authority that is down
// must not hold up the node manager, which runs on without it.
const firstReadTimeout = 10 * time.Second

// firstRead reads the assignment once at start. A refusal of the node
// (unknown, not allowed) is fatal: it is misconfigured and retrying will
// not mend it; anything else is retried by the watch.
func (f *Follower) firstRead() error {
	ctx, cancel := context.WithTimeout(f.ctx, firstReadTimeout)
	defer cancel()
	a, err := f.client.Assignment(ctx, f.cfg.Name)
	switch {
	case api.IsStatus(err, http.StatusUnauthorized), api.IsStatus(err, http.StatusForbidden), api.IsStatus(err, http.StatusNotFound):
		return fmt.Errorf("follow the authority as node %s: %w", f.cfg.Name, err)
	case err != nil:
		f.setConnErr(err)
		f.log.Warn("authority unreachable at start; the vservers keep running as recorded", "authority", f.cfg.Authority, "error", err.Error())
		return nil
	}
	f.take(a, false)
	f.log.Info("following the authority", "authority", f.cfg.Authority, "node", f.cfg.Name, "slivers", len(a.Slivers), "revision", a.Revision)
	return nil
}

// Name is the origin of the vservers the authority assigns.
func (f *Follower) Name() string { return SourceName }

// Changed receives a value when a new assignment arrived.
func (f *Follower) Changed() <-chan struct{} { return f.changed }

// Desired is the slivers of the last assignment as vserver specs; until
// a first assignment arrived it is an error, and the node manager then
// neither creates nor removes anything for the authority.
func (f *Follower) Desired(context.Context) ([]vserver.Spec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.assigned == nil {
		if f.connErr != nil {
			return nil, fmt.Errorf("no assignment from the authority yet: %w", f.connErr)
		}
		return nil, fmt.Errorf("no assignment from the authority yet")
	}
	return specsOf(f.assigned.Slivers, f.cfg.Address), nil
}

// Sliver is the authority's sliver of slice in the last assignment, as
// the authority sent it.
func (f *Follower) Sliver(slice string) (api.Sliver, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.assigned == nil {
		return api.Sliver{}, false
	}
	for _, s := range f.assigned.Slivers {
		if s.Slice == slice {
			return s, true
		}
	}
	return api.Sliver{}, false
}

// Err is why the authority cannot be followed now; nil while the watch
// stream is up.
func (f *Follower) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connErr
}

// Attach is the daemon lending the node: reports and exec jobs start.
func (f *Follower) Attach(n node.Node) {
	f.mu.Lock()
	if f.node != nil {
		f.mu.Unlock()
		return
	}
	f.node = n
	var jobs []api.ExecJob
	if f.assigned != nil {
		jobs = f.newJobs(f.assigned.Exec)
	}
	f.mu.Unlock()
	f.startJobs(n, jobs)
	go f.reportLoop(f.ctx)
}

// Passed asks for a report at once when a pass changed a vserver's
// state; the heartbeat reports the rest.
func (f *Follower) Passed(vs []*vserver.VServer) {
	sum := stateSummary(vs)
	f.mu.Lock()
	changed := sum != f.reported
	f.mu.Unlock()
	if changed {
		f.requestReport()
	}
}

func (f *Follower) requestReport() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// take makes a the assignment in force and starts its new exec jobs. A
// full read older than what the watch stream gave is a race lost, not
// news (fromResync); the stream itself is always the authority's word.
func (f *Follower) take(a *api.Assignment, fromResync bool) {
	f.mu.Lock()
	prev := f.assigned
	if fromResync && prev != nil && a.Revision < prev.Revision {
		f.mu.Unlock()
		return
	}
	f.assigned = a
	n := f.node
	var jobs []api.ExecJob
	if n != nil {
		jobs = f.newJobs(a.Exec)
	}
	f.mu.Unlock()
	if prev == nil || a.Revision != prev.Revision || !sameSlivers(prev.Slivers, a.Slivers) {
		f.log.Info("assignment", "revision", a.Revision, "slivers", len(a.Slivers))
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}
	f.startJobs(n, jobs)
}

func (f *Follower) setConnErr(err error) {
	f.mu.Lock()
	f.connErr = err
	f.mu.Unlock()
}
