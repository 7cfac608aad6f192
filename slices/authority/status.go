package authority

import (
	"net/http"

	"pcr/slices/api"
	"pcr/slices/ca"
)

// Row states the authority gives when a node's report says nothing.
const (
	statePending     = "pending"
	stateUnreachable = api.HealthUnreachable
)

// sliceStatus is a row per slice node from the node's last report.
func (s *Server) sliceStatus(w http.ResponseWriter, r *http.Request, id ca.Identity) error {
	sl, err := s.sliceFor(r, id)
	if err != nil {
		return err
	}
	seen, err := s.st.ListSeen(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	out := api.SliceStatus{Slice: *sl, Nodes: make([]api.SliverRow, 0, len(sl.Nodes))}
	for _, n := range sl.Nodes {
		row := api.SliverRow{Node: n, State: statePending}
		sn, ok := seen[n]
		switch {
		case !ok:
			row.Reason = "the node has not reported yet"
		case s.stale(&sn, now):
			row.State, row.LastSeen = stateUnreachable, sn.LastSeen
			row.Reason = "not seen for " + now.Sub(sn.LastSeen).Round(1e9).String()
		default:
			row.LastSeen = sn.LastSeen
			for _, sv := range sn.Report.Slivers {
				if sv.Slice == sl.Name {
					row.State, row.Reason, row.Address, row.Usage = sv.State, sv.Reason, sv.Address, sv.Usage
					break
				}
			}
		}
		out.Nodes = append(out.Nodes, row)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
