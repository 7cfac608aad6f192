package engine

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/netns"
)

// checkNetRate refuses an egress rate that cannot be shaped: tc works on
// the veths of a bridged run's own namespace, which host, none and
// container: runs do not have.
func checkNetRate(rate int64, network string) error {
	if rate == 0 {
		return nil
	}
	if rate < netns.MinEgressRate {
		return fmt.Errorf("invalid network rate %d bytes/s: must be 0 (unshaped) or at least %d", rate, netns.MinEgressRate)
	}
	if m, err := parseNetMode(network); err != nil || !m.bridged() {
		return fmt.Errorf("network rate %d bytes/s: shaping needs a bridge network of the container's own, not --net %s", rate, network)
	}
	return nil
}

// withNetRate changes nothing in the spec (tc is set up at each start,
// once the network exists): it checks NetRate with the other options,
// before the container is made.
func withNetRate(s *specs.Spec, in *specInput, o *Options) error {
	return checkNetRate(o.NetRate, o.Network)
}

// applyNetRate shapes a bridged run's egress once its network is set up;
// every start gets a new namespace, so every start applies it.
func (e *Engine) applyNetRate(rec *Record) error {
	if rec.Options.NetRate <= 0 {
		return nil
	}
	mgr, err := e.Networks()
	if err != nil {
		return err
	}
	if err := mgr.SetEgressRate(rec.ID, rec.Options.NetRate); err != nil {
		return err
	}
	e.trace.Stage("egress shaped to %d bytes/s", rec.Options.NetRate)
	return nil
}

// NetCounters are the bytes a running bridged container has received and
// sent on its interfaces since it started.
func (e *Engine) NetCounters(ref string) (rx, tx uint64, err error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return 0, 0, err
	}
	mgr, err := e.Networks()
	if err != nil {
		return 0, 0, err
	}
	return mgr.Counters(id)
}
