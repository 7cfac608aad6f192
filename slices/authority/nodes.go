package authority

import (
	"errors"
	"net/http"
	"net/netip"
	"time"

	"pcr/slices/api"
	"pcr/slices/ca"
	"pcr/slices/store"
)

// addNode records a node and makes its one-time join token; only the
// token's hash is stored, the token itself is shown once.
func (s *Server) addNode(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	if err := requireAdmin(id, "add nodes"); err != nil {
		return err
	}
	var in api.AddNode
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	token, hash, err := ca.NewJoinToken(in.Name)
	if err != nil {
		return badRequest("add node %s: %v", in.Name, err)
	}
	if err := checkAddress(in.Address); err != nil {
		return badRequest("add node %s: %v", in.Name, err)
	}
	rec := store.NodeRecord{Node: api.Node{Name: in.Name, Address: in.Address, Added: s.now().UTC()}, TokenHash: hash}
	if err := s.st.CreateNode(r.Context(), rec); errors.Is(err, store.ErrExists) {
		return refuse(http.StatusConflict, "node %s exists", in.Name)
	} else if err != nil {
		return err
	}
	s.log.Info("node added", "node", in.Name, "by", id.String())
	out := rec.Node
	out.Health = api.HealthNotJoined
	writeJSON(w, http.StatusCreated, api.AddedNode{Node: out, Token: token})
	return nil
}

// checkAddress accepts an empty address or an IP: the overlay's tunnels
// end there, so a host name that may resolve differently on each node
// is not taken.
func checkAddress(a string) error {
	if a == "" {
		return nil
	}
	if _, err := netip.ParseAddr(a); err != nil {
		return errors.New("invalid address " + a + ": want an IP address")
	}
	return nil
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	recs, err := s.st.ListNodes(r.Context())
	if err != nil {
		return err
	}
	seen, err := s.st.ListSeen(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	out := make([]api.Node, 0, len(recs))
	for _, rec := range recs {
		var sn *store.Seen
		if v, ok := seen[rec.Name]; ok {
			sn = &v
		}
		out = append(out, s.nodeAsSeen(rec, sn, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// nodeAsSeen is a node as callers see it: its record, what it last
// reported, and its health now.
func (s *Server) nodeAsSeen(rec store.NodeRecord, seen *store.Seen, now time.Time) api.Node {
	n := rec.Node
	n.Health = s.health(rec, seen, now)
	if seen == nil {
		return n
	}
	n.LastSeen = seen.LastSeen
	n.Capacity = seen.Report.Capacity
	n.Images = seen.Report.Images
	n.Policy = seen.Report.Policy
	if seen.Report.Address != "" {
		n.Address = seen.Report.Address
	}
	if len(seen.Report.Slivers) > 0 {
		n.Vservers = make(map[string]int)
		for _, sv := range seen.Report.Slivers {
			n.Vservers[sv.State]++
		}
	}
	return n
}

func (s *Server) health(rec store.NodeRecord, seen *store.Seen, now time.Time) string {
	switch {
	case rec.Joined.IsZero():
		return api.HealthNotJoined
	case s.stale(seen, now):
		return api.HealthUnreachable
	}
	return api.HealthUp
}

func (s *Server) stale(seen *store.Seen, now time.Time) bool {
	return seen == nil || now.Sub(seen.LastSeen) > s.staleness
}

// removeNode removes a node and takes it out of every slice.
func (s *Server) removeNode(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	if err := requireAdmin(id, "remove nodes"); err != nil {
		return err
	}
	name := r.PathValue("name")
	changed, err := s.st.RemoveNode(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) && len(changed) == 0 {
		return refuse(http.StatusNotFound, "unknown node %s", name)
	}
	if err != nil {
		return err
	}
	s.log.Info("node removed", "node", name, "slices", changed, "by", id.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// report records a node's heartbeat in seen/, apart from its record: the
// record is rewritten only when the node's underlay address changed, as
// every rewrite wakes every node's watch stream.
func (s *Server) report(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	name := r.PathValue("name")
	if err := requireSelf(id, name, "report", false); err != nil {
		return err
	}
	var in api.Report
	if err := decode(w, r, maxBody, &in); err != nil {
		return err
	}
	if err := checkAddress(in.Address); err != nil {
		return badRequest("report of node %s: %v", name, err)
	}
	if in.Slivers == nil {
		in.Slivers = []api.SliverStatus{}
	}
	removed := refuse(http.StatusNotFound, "unknown node %s (it was removed)", name)
	rec, err := s.st.GetNode(r.Context(), name)
	if isNotFound(err) {
		return removed
	} else if err != nil {
		return err
	}
	if err := requireCurrentCert(id, certSerial(r), rec); err != nil {
		return err
	}
	if err := s.st.PutSeen(r.Context(), name, store.Seen{LastSeen: s.now().UTC(), Report: in}); isNotFound(err) {
		return removed
	} else if err != nil {
		return err
	}
	if in.Address != "" && in.Address != rec.Address {
		_, err := s.st.UpdateNode(r.Context(), name, func(rec *store.NodeRecord) error {
			rec.Address = in.Address
			return nil
		})
		if isNotFound(err) {
			return removed
		} else if err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
