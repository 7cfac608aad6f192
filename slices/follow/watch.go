package follow

import (
	"context"
	"time"

	"pcr/slices/api"
)

// The watch stream's reconnect backoff: quick after a blip, at most
// every 10 s while the authority is down.
const (
	firstBackoff = 500 * time.Millisecond
	maxBackoff   = 10 * time.Second
)

// watch keeps the authority's watch stream open until ctx ends. While it
// is broken the last assignment stays in force: the vservers keep
// running, and the node still removes them when they expire.
func (f *Follower) watch(ctx context.Context) {
	backoff := firstBackoff
	down := ""
	for ctx.Err() == nil {
		heard := false
		err := f.client.Watch(ctx, f.cfg.Name, func(a *api.Assignment) error {
			if !heard {
				heard = true
				f.setConnErr(nil)
				if down != "" {
					f.log.Info("watching the authority again", "authority", f.cfg.Authority)
					down = ""
				}
			}
			f.take(a, false)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if heard {
			backoff = firstBackoff
		}
		f.setConnErr(err)
		// One line per outage and per new cause, not one per try.
		if msg := err.Error(); msg != down {
			f.log.Warn("authority watch broken; keeping the last assignment and reconnecting", "authority", f.cfg.Authority,
				"error", msg, "retry_in", backoff.String())
			down = msg
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// resync reads the whole assignment every ResyncInterval: the safety net
// for a change the stream missed.
func (f *Follower) resync(ctx context.Context) {
	t := time.NewTicker(f.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a, err := f.client.Assignment(ctx, f.cfg.Name)
		if err != nil {
			// The watch loop says the authority is down, once.
			f.log.Debug("resync with the authority", "error", err.Error())
			continue
		}
		f.take(a, true)
	}
}

// sleep waits d unless ctx ends first (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
