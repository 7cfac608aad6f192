package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"pcr/slices/api"
)

// loadConfig is one load run: who is called, by how many workers, for how long.
type loadConfig struct {
	// Authorities are the base URLs; worker w's request i goes to
	// Authorities[(w+i) % len], so every authority gets an even share.
	Authorities []string
	TLS         *tls.Config
	Workers     int
	Duration    time.Duration
	// Site names the slices: SITE_wWnI. It keeps this run's slices apart
	// from any other on the same authority.
	Site  string
	Image string
	// RequestTimeout bounds each call, so that a stuck authority fails the
	// run instead of hanging it.
	RequestTimeout time.Duration
}

// loadResult is what slicesload prints: the create phase's rate and
// latencies, then the delete phase's, and the first error if any.
type loadResult struct {
	Authorities int     `json:"authorities"`
	Workers     int     `json:"workers"`
	Seconds     float64 `json:"seconds"`
	Creates     int     `json:"creates"`
	CreatesPerS float64 `json:"creates_per_s"`
	CreateP50Ms float64 `json:"create_p50_ms"`
	CreateP99Ms float64 `json:"create_p99_ms"`
	Deletes     int     `json:"deletes"`
	DeletesPerS float64 `json:"deletes_per_s"`
	DeleteP50Ms float64 `json:"delete_p50_ms"`
	DeleteP99Ms float64 `json:"delete_p99_ms"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

// worker is one caller: a client of its own per authority (its own
// connections, as separate users would have) and the slices it made.
type worker struct {
	id      int
	clients []*api.Client
	made    []string
	creates []time.Duration
	deletes []time.Duration
	err     error
}

// runLoad creates slices with no nodes from every worker until the
// duration is over (or the first failure), then deletes all of them. The
// slices are deleted even after a failure, so that a run leaves nothing.
func runLoad(ctx context.Context, cfg loadConfig) (loadResult, error) {
	if len(cfg.Authorities) == 0 || cfg.Workers < 1 || cfg.Duration <= 0 {
		return loadResult{}, fmt.Errorf("slice load: want at least one authority, one worker and a positive duration")
	}
	workers := make([]*worker, cfg.Workers)
	for w := range workers {
		wk := &worker{id: w}
		for _, url := range cfg.Authorities {
			cl, err := api.NewClient(url, cfg.TLS.Clone())
			if err != nil {
				return loadResult{}, fmt.Errorf("slice load: %w", err)
			}
			wk.clients = append(wk.clients, cl)
		}
		workers[w] = wk
	}
	// Connect every client before the clock starts: the TLS handshakes
	// are not what is measured.
	for _, wk := range workers {
		for _, cl := range wk.clients {
			if err := call(ctx, cfg.RequestTimeout, func(ctx context.Context) error { _, err := cl.ListNodes(ctx); return err }); err != nil {
				return loadResult{}, fmt.Errorf("slice load: connect to %s: %w", cl.URL(), err)
			}
		}
	}

	createCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	each(workers, func(wk *worker) {
		for i := 0; time.Now().Before(deadline) && createCtx.Err() == nil; i++ {
			name := fmt.Sprintf("%s_w%dn%d", cfg.Site, wk.id, i)
			cl := wk.clients[(wk.id+i)%len(wk.clients)]
			t0 := time.Now()
			err := call(createCtx, cfg.RequestTimeout, func(ctx context.Context) error {
				_, err := cl.CreateSlice(ctx, api.CreateSlice{Name: name, Image: cfg.Image, Nodes: []string{}})
				return err
			})
			if err != nil {
				if createCtx.Err() == nil {
					wk.err = fmt.Errorf("create slice %s at %s: %w", name, cl.URL(), err)
				}
				stop()
				return
			}
			wk.creates = append(wk.creates, time.Since(t0))
			wk.made = append(wk.made, name)
		}
	})
	createTime := time.Since(start)

	// Deletes run on ctx, not createCtx: they also clean up after a failure.
	start = time.Now()
	each(workers, func(wk *worker) {
		for i, name := range wk.made {
			cl := wk.clients[(wk.id+i)%len(wk.clients)]
			t0 := time.Now()
			err := call(ctx, cfg.RequestTimeout, func(ctx context.Context) error { return cl.DeleteSlice(ctx, name) })
			if err != nil {
				if wk.err == nil {
					wk.err = fmt.Errorf("delete slice %s at %s: %w", name, cl.URL(), err)
				}
				continue
			}
			wk.deletes = append(wk.deletes, time.Since(t0))
		}
	})
	deleteTime := time.Since(start)

	return summarize(cfg, workers, createTime, deleteTime), nil
}

// each runs fn on every worker at once and waits for all.
func each(workers []*worker, fn func(*worker)) {
	var wg sync.WaitGroup
	for _, wk := range workers {
		wg.Go(func() { fn(wk) })
	}
	wg.Wait()
}

// call runs one request under its own timeout.
func call(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	err := fn(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	return err
}

func summarize(cfg loadConfig, workers []*worker, createTime, deleteTime time.Duration) loadResult {
	r := loadResult{Authorities: len(cfg.Authorities), Workers: cfg.Workers, Seconds: round(createTime.Seconds(), 2)}
	var creates, deletes []time.Duration
	for _, wk := range workers {
		creates = append(creates, wk.creates...)
		deletes = append(deletes, wk.deletes...)
		if wk.err != nil {
			r.Errors++
			if r.FirstError == "" {
				r.FirstError = wk.err.Error()
			}
		}
	}
	r.Creates, r.Deletes = len(creates), len(deletes)
	r.CreatesPerS = rate(len(creates), createTime)
	r.DeletesPerS = rate(len(deletes), deleteTime)
	r.CreateP50Ms, r.CreateP99Ms = percentileMs(creates, 50), percentileMs(creates, 99)
	r.DeleteP50Ms, r.DeleteP99Ms = percentileMs(deletes, 50), percentileMs(deletes, 99)
	return r
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round(float64(n)/d.Seconds(), 1)
}

// percentileMs is the nearest-rank percentile p (0-100] of ds in
// milliseconds; 0 for none.
func percentileMs(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return round(float64(s[rank-1])/float64(time.Millisecond), 2)
}

func round(v float64, places int) float64 {
	f := math.Pow(10, float64(places))
	return math.Round(v*f) / f
}
