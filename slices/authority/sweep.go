package authority

import (
	"context"
	"time"
)

// sweepEvery is the longest the sweeper sleeps: an expiry set by another
// authority process is noticed within it.
const sweepEvery = time.Second

// RunSweeper deletes expired slices until ctx ends: every second, or at
// the next expiry if sooner. Every authority process may run one; the
// store's compare-and-delete makes the races harmless (and a renewal
// that lands first wins).
func (s *Server) RunSweeper(ctx context.Context) {
	for {
		wait := sweepEvery
		next, err := s.sweep(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("expiry sweep", "err", err)
		}
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(s.now()), 10*time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// sweep deletes the slices expired by now and returns the next expiry.
func (s *Server) sweep(ctx context.Context) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	all, _, err := s.st.ListSlices(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := s.now()
	var next time.Time
	for _, sl := range all {
		if now.Before(sl.Expires) {
			if next.IsZero() || sl.Expires.Before(next) {
				next = sl.Expires
			}
			continue
		}
		deleted, err := s.st.DeleteExpiredSlice(ctx, sl.Name, now)
		if err != nil {
			return next, err
		}
		if deleted {
			s.log.Info("slice expired", "slice", sl.Name, "expires", stamp(sl.Expires))
		}
	}
	return next, nil
}
