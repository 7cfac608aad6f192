package node

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"pcr/vserver"
)

// historyLength is how many samples are kept per vserver: at the default
// 15 s, the last ten minutes (PlanetLab's slicestat showed about as much).
const historyLength = 40

// sampler reads every vserver's usage at an interval and keeps a short
// history of it, for `pcr vserver stats` and /metrics.
type sampler struct {
	mgr *vserver.Manager
	log *slog.Logger

	mu       sync.Mutex
	history  map[string][]vserver.Stats
	vservers []*vserver.VServer // as listed at the last sampling
}

func newSampler(mgr *vserver.Manager, log *slog.Logger) *sampler {
	return &sampler{mgr: mgr, log: log, history: map[string][]vserver.Stats{}}
}

// run samples now and then every interval until ctx ends.
func (s *sampler) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample reads each vserver that has a container once; a vserver that
// went away loses its history.
func (s *sampler) sample() {
	all, err := s.mgr.List()
	if err != nil {
		s.log.Warn("sample vserver usage", "error", err.Error())
		return
	}
	fresh := map[string]vserver.Stats{}
	for _, v := range all {
		if v.ContainerID == "" {
			continue
		}
		st, err := s.mgr.Stats(v.Slice)
		if err != nil {
			s.log.Debug("sample vserver usage", "slice", v.Slice, "error", err.Error())
			continue
		}
		fresh[v.Slice] = *st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vservers = all
	for slice := range s.history {
		if _, ok := fresh[slice]; !ok && !slices.ContainsFunc(all, func(v *vserver.VServer) bool { return v.Slice == slice }) {
			delete(s.history, slice)
		}
	}
	for slice, st := range fresh {
		h := append(s.history[slice], st)
		if len(h) > historyLength {
			h = slices.Clone(h[len(h)-historyLength:])
		}
		s.history[slice] = h
	}
}

// latest is the last sample of slice.
func (s *sampler) latest(slice string) (vserver.Stats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.history[slice]
	if len(h) == 0 {
		return vserver.Stats{}, false
	}
	return h[len(h)-1], true
}

// kept is the samples of slice, oldest first.
func (s *sampler) kept(slice string) []vserver.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history[slice])
}

// snapshot is the last listing and each vserver's last sample.
func (s *sampler) snapshot() ([]*vserver.VServer, map[string]vserver.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := make(map[string]vserver.Stats, len(s.history))
	for slice, h := range s.history {
		if len(h) > 0 {
			last[slice] = h[len(h)-1]
		}
	}
	return slices.Clone(s.vservers), last
}
