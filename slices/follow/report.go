package follow

import (
	"context"
	"fmt"
	"time"

	"pcr/slices/api"
	"pcr/vserver"
	"pcr/vserver/node"
)

// reportTimeout bounds one report: a hung authority must not stop the
// heartbeats that follow.
const reportTimeout = 30 * time.Second

// reportLoop reports at once, then every ReportInterval and whenever a
// pass changed a vserver's state. Requests that come while a report is
// under way fold into one after it: at most one is in flight.
func (f *Follower) reportLoop(ctx context.Context) {
	t := time.NewTicker(f.cfg.ReportInterval)
	defer t.Stop()
	down := false
	for {
		err := f.report(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !down:
			f.log.Warn("report to the authority failed; retrying every interval", "authority", f.cfg.Authority,
				"error", err.Error(), "interval", f.cfg.ReportInterval.String())
			down = true
		case err == nil && down:
			f.log.Info("reports reach the authority again", "authority", f.cfg.Authority)
			down = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.kick:
		}
	}
}

// report sends one heartbeat with the node's vservers.
func (f *Follower) report(ctx context.Context) error {
	f.mu.Lock()
	n := f.node
	f.mu.Unlock()
	r, summary, err := f.buildReport(n)
	if err != nil {
		return err
	}
	// Set before sending: a pass meanwhile compares with what is on its
	// way. A failed report forgets it, so the next change asks again.
	f.mu.Lock()
	f.reported = summary
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	if err := f.client.Report(ctx, f.cfg.Name, r); err != nil {
		f.mu.Lock()
		f.reported = ""
		f.mu.Unlock()
		return err
	}
	return nil
}

// buildReport is what the node offers and a status for each vserver the
// authority assigned; summary is their states, for Passed to compare.
func (f *Follower) buildReport(n node.Node) (r api.Report, summary string, err error) {
	vs, err := n.List()
	if err != nil {
		// Better no report than one that says every vserver is gone.
		return api.Report{}, "", fmt.Errorf("report: %w", err)
	}
	c := n.Capacity()
	r = api.Report{Address: f.cfg.Address, Capacity: capacityOf(c), Images: c.Images, Slivers: []api.SliverStatus{}}
	if info := n.Info(); info != nil {
		r.Policy = policySummary(info.Policy)
	}
	for _, v := range vs {
		if v.Origin != SourceName {
			continue
		}
		st := api.SliverStatus{Slice: v.Slice, State: v.State, Reason: reasonOf(v), Address: sliverAddress(v), Restarts: v.Restarts}
		if v.ContainerID != "" {
			if s, err := n.Stats(v.Slice); err == nil {
				st.Usage = usageOf(s)
			} else {
				f.log.Debug("report: usage", "slice", v.Slice, "error", err.Error())
			}
		}
		r.Slivers = append(r.Slivers, st)
	}
	return r, stateSummary(vs), nil
}

// sliverAddress is where the slice's other vservers reach this one: its
// overlay address when the slice has one, else its node-local address.
func sliverAddress(v *vserver.VServer) string {
	if v.Overlay != nil && v.Overlay.Address != "" && v.ContainerID != "" {
		return v.Overlay.Address
	}
	return v.IPAddress
}
