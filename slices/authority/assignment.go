package authority

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// retryDelay is how soon a watch stream reads again after the store
// failed it; the stream stays open (pings go on) meanwhile.
const retryDelay = 500 * time.Millisecond

// assignmentOf turns a store view into what the node must run now: every
// unexpired slice listing it, with its place on the slice's overlay, and
// its pending exec jobs. It also says when the next of those slices
// expires, when the assignment changes without any write.
func assignmentOf(v *store.NodeView, node string, now time.Time) (api.Assignment, time.Time) {
	a := api.Assignment{Node: node, Revision: v.Revision, Slivers: []api.Sliver{}, Exec: v.Jobs}
	var next time.Time
	for _, sl := range v.Slices {
		if !slices.Contains(sl.Nodes, node) || !now.Before(sl.Expires) {
			continue
		}
		if next.IsZero() || sl.Expires.Before(next) {
			next = sl.Expires
		}
		sv := api.Sliver{Slice: sl.Name, Site: sl.Site, Owners: sl.Owners, Image: sl.Image, Rspec: sl.Rspec,
			Expires: sl.Expires, Stopped: sl.Stopped, RestartGeneration: sl.RestartGeneration}
		if sl.Network != nil {
			net := &api.SliverNetwork{VNI: sl.Network.VNI, Subnet: sl.Network.Subnet, Address: sl.Network.Addresses[node]}
			for _, p := range sl.Nodes {
				if rec, ok := v.Nodes[p]; ok && p != node && rec.Address != "" {
					net.Peers = append(net.Peers, rec.Address)
				}
			}
			sv.Network = net
		}
		a.Slivers = append(a.Slivers, sv)
	}
	return a, next
}

// readAssignment reads node's assignment now for caller id, whose
// certificate has serial.
func (s *Server) readAssignment(ctx context.Context, node string, id ca.Identity, serial string) (api.Assignment, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.storeTimeout)
	defer cancel()
	v, err := s.st.ReadNodeView(ctx, node)
	if isNotFound(err) {
		return api.Assignment{}, time.Time{}, refuse(http.StatusNotFound, "unknown node %s", node)
	}
	if err != nil {
		return api.Assignment{}, time.Time{}, err
	}
	rec := v.Nodes[node]
	if err := requireCurrentCert(id, serial, &rec); err != nil {
		return api.Assignment{}, time.Time{}, err
	}
	a, next := assignmentOf(v, node, s.now())
	return a, next, nil
}

// slivers is GET /v1/nodes/{name}/slivers: the assignment, or with
// ?watch=true a stream of them.
func (s *Server) slivers(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	name := r.PathValue("name")
	if err := requireSelf(id, name, "slivers", true); err != nil {
		return err
	}
	serial := certSerial(r)
	a, next, err := s.readAssignment(r.Context(), name, id, serial)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("watch") != "true" {
		writeJSON(w, http.StatusOK, a)
		return nil
	}
	s.stream(w, r, name, a, next, func(ctx context.Context) (api.Assignment, time.Time, error) {
		return s.readAssignment(ctx, name, id, serial)
	})
	return nil
}

// stream sends a first Assignment at once, a new one after each store
// change that alters it (read reads it again), and a ping every
// api.PingInterval, until the caller goes away.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, node string, a api.Assignment, next time.Time,
	read func(context.Context) (api.Assignment, time.Time, error)) {
	ctx, cancel, _ := longLived(r)
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(m api.WatchMessage) bool {
		b, err := json.Marshal(m)
		if err != nil {
			return false
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	last := contentOf(a)
	if !send(api.WatchMessage{Assignment: &a}) {
		return
	}
	wake := s.st.WatchNode(ctx, node, a.Revision)
	ping := time.NewTicker(api.PingInterval)
	defer ping.Stop()
	// timer fires at the next expiry among the node's slices, or to
	// retry after a failed read.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	arm := func(next time.Time) {
		d := time.Hour
		if !next.IsZero() {
			d = max(next.Sub(s.now())+10*time.Millisecond, 0)
		}
		timer.Reset(d)
	}
	arm(next)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if !send(api.WatchMessage{Ping: true}) {
				return
			}
			continue
		case _, ok := <-wake:
			if !ok {
				return
			}
		case <-timer.C:
		}
		a, next, err := read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return // the caller went away, or the server is stopping
			}
			if st := statusOf(err); st == http.StatusNotFound || st == http.StatusForbidden {
				return // the node was removed, or joined again: end its stream
			}
			s.log.Warn("watch stream: read assignment", "node", node, "err", err)
			timer.Reset(retryDelay)
			continue
		}
		arm(next)
		if c := contentOf(a); !bytes.Equal(c, last) {
			last = c
			if !send(api.WatchMessage{Assignment: &a}) {
				return
			}
		}
	}
}

// contentOf is an assignment without its revision: a write elsewhere in
// the store moves the revision without changing what the node must do.
func contentOf(a api.Assignment) []byte {
	a.Revision = 0
	b, _ := json.Marshal(a)
	return b
}
