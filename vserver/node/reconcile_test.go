package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pcr/vserver"
)

var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func spec(slice string, mods ...func(*vserver.Spec)) vserver.Spec {
	s := vserver.Spec{Slice: slice, Image: "busybox", Rspec: vserver.Rspec{Memory: 64 << 20}}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func withMemory(m vserver.Bytes) func(*vserver.Spec) {
	return func(s *vserver.Spec) { s.Rspec.Memory = m }
}
func withImage(i string) func(*vserver.Spec)   { return func(s *vserver.Spec) { s.Image = i } }
func expiring(t time.Time) func(*vserver.Spec) { return func(s *vserver.Spec) { s.Expires = t } }
func stopped(s *vserver.Spec)                  { s.Stopped = true }
func generation(g int64) func(*vserver.Spec) {
	return func(s *vserver.Spec) { s.RestartGeneration = g }
}
func held(v *vserver.VServer) { v.Held = true }

// onOverlay puts a spec on the slice overlay VNI 4300 from node
// 10.202.0.1, changed by mods.
func onOverlay(mods ...func(*vserver.Overlay)) func(*vserver.Spec) {
	return func(s *vserver.Spec) {
		s.Overlay = &vserver.Overlay{VNI: 4300, Subnet: "10.96.100.0/24", Address: "10.96.100.2",
			Local: "10.202.0.1", Peers: []string{"10.202.0.2", "10.202.0.3"}}
		for _, m := range mods {
			m(s.Overlay)
		}
	}
}
func peers(p ...string) func(*vserver.Overlay) { return func(o *vserver.Overlay) { o.Peers = p } }

// vs is a vserver on the node in state, of origin, made from s as asked.
func vs(s vserver.Spec, origin, state string, mods ...func(*vserver.VServer)) *vserver.VServer {
	v := &vserver.VServer{Spec: s, Origin: origin, Applied: s.Rspec, State: state, Created: now.Add(-time.Hour)}
	switch state {
	case vserver.StateRunning, vserver.StateStopped:
		v.ContainerID = "c-" + s.Slice
	case vserver.StateRefused, vserver.StateFailed, vserver.StateCreating:
		v.Status = state
	}
	for _, m := range mods {
		m(v)
	}
	return v
}

const src = FileSourceName

// acts renders a plan as "kind slice: reason" lines, the way it is logged.
func acts(as []Action) string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %s: %s", a.Kind, a.Slice, a.Reason))
	}
	return strings.Join(out, "\n")
}

func TestPlan(t *testing.T) {
	later := now.Add(time.Hour)
	tests := []struct {
		name    string
		desired []vserver.Spec
		noSet   bool
		current []*vserver.VServer
		policy  string
		retry   map[string]time.Time
		want    []string
	}{
		{name: "nothing to do"},
		{name: "a new slice is created", desired: []vserver.Spec{spec("pl_a")},
			want: []string{"create pl_a: assigned"}},
		{name: "a matching vserver is left alone", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)}},
		{name: "no longer assigned", current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want: []string{"remove pl_a: no longer assigned"}},
		{name: "a refused record no longer assigned goes too", current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRefused)},
			want: []string{"remove pl_a: no longer assigned"}},
		{name: "an admin's vserver is never unassigned", current: []*vserver.VServer{vs(spec("pl_a"), vserver.OriginAdmin, vserver.StateRunning)}},
		{name: "an admin's vserver expires like any",
			current: []*vserver.VServer{vs(spec("pl_a", expiring(now.Add(-time.Second))), vserver.OriginAdmin, vserver.StateRunning)},
			want:    []string{"remove pl_a: expired at 2030-06-01T11:59:59Z"}},
		{name: "expiry exactly now is expired",
			current: []*vserver.VServer{vs(spec("pl_a", expiring(now)), src, vserver.StateRunning)},
			desired: []vserver.Spec{spec("pl_a", expiring(now))},
			want:    []string{"remove pl_a: expired at 2030-06-01T12:00:00Z"}},
		{name: "an assignment that expired removes the vserver",
			current: []*vserver.VServer{vs(spec("pl_a", expiring(later)), src, vserver.StateRunning)},
			desired: []vserver.Spec{spec("pl_a", expiring(now.Add(-time.Minute)))},
			want:    []string{"remove pl_a: expired at 2030-06-01T11:59:00Z"}},
		{name: "an expired assignment is not created", desired: []vserver.Spec{spec("pl_a", expiring(now.Add(-time.Minute)))}},
		{name: "expiry is enforced without a source set",
			noSet:   true,
			current: []*vserver.VServer{vs(spec("pl_a", expiring(now.Add(-time.Minute))), src, vserver.StateRunning)},
			want:    []string{"remove pl_a: expired at 2030-06-01T11:59:00Z"}},
		{name: "without a source set nothing is unassigned", noSet: true,
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)}},
		{name: "without a source set crashed vservers still restart", noSet: true,
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateStopped, func(v *vserver.VServer) { v.ExitCode = 137 })},
			want:    []string{"revive pl_a: its init exited (code 137)"}},
		{name: "rspec change updates in place", desired: []vserver.Spec{spec("pl_a", withMemory(128<<20))},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"update pl_a: rspec changed: memory 64M -> 128M"}},
		{name: "image change recreates", desired: []vserver.Spec{spec("pl_a", withImage("debian"))},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"recreate pl_a: image changed from busybox to debian"}},
		{name: "renewal sets the expiry", desired: []vserver.Spec{spec("pl_a", expiring(later))},
			current: []*vserver.VServer{vs(spec("pl_a", expiring(now.Add(time.Minute))), src, vserver.StateRunning)},
			want:    []string{"set-expiry pl_a: expiry changed from 2030-06-01T12:01:00Z to 2030-06-01T13:00:00Z"}},
		{name: "a crashed vserver is revived", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateStopped)},
			want:    []string{"revive pl_a: its init exited (code 0)"}},
		{name: "a crashed admin vserver is revived", current: []*vserver.VServer{vs(spec("pl_a"), vserver.OriginAdmin, vserver.StateStopped)},
			want: []string{"revive pl_a: its init exited (code 0)"}},
		{name: "a vserver the admin stopped stays stopped", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateStopped, func(v *vserver.VServer) { v.Held = true })}},
		{name: "a gone container is recreated", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateFailed, func(v *vserver.VServer) {
				v.Status, v.ContainerID, v.Reason = "", "c-pl_a", "its container is gone: no such container"
			})},
			want: []string{"recreate pl_a: its container is gone: no such container"}},
		{name: "an admin vserver whose container is gone is recreated as it was",
			current: []*vserver.VServer{vs(spec("pl_a"), vserver.OriginAdmin, vserver.StateFailed, func(v *vserver.VServer) {
				v.Status, v.ContainerID, v.Reason = "", "c-pl_a", "its container is gone: no such container"
			})},
			want: []string{"recreate pl_a: its container is gone: no such container"}},
		{name: "a failed create is retried", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateFailed, func(v *vserver.VServer) { v.Reason = "no such image" })},
			want:    []string{"create pl_a: assigned"}},
		{name: "a failed create waits for its retry", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateFailed, func(v *vserver.VServer) { v.Reason = "no such image" })},
			retry:   map[string]time.Time{"pl_a": now.Add(time.Second)}},
		{name: "a create under way is left alone", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateCreating, func(v *vserver.VServer) { v.Created = now.Add(-time.Second) })}},
		{name: "an interrupted create is redone", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateCreating)},
			want:    []string{"recreate pl_a: its create was interrupted"}},
		{name: "a denied site is refused", desired: []vserver.Spec{spec("spam_a")}, policy: `{"deny_sites":["spam"]}`,
			want: []string{"refuse spam_a: site spam is refused by the node's policy"}},
		{name: "a refusal recorded already is not redone", desired: []vserver.Spec{spec("spam_a")}, policy: `{"deny_sites":["spam"]}`,
			current: []*vserver.VServer{vs(spec("spam_a"), src, vserver.StateRefused, func(v *vserver.VServer) { v.Reason = "site spam is refused by the node's policy" })}},
		{name: "a running vserver of a newly denied site is refused (and so removed)", desired: []vserver.Spec{spec("spam_a")},
			policy:  `{"deny_sites":["spam"]}`,
			current: []*vserver.VServer{vs(spec("spam_a"), src, vserver.StateRunning)},
			want:    []string{"refuse spam_a: site spam is refused by the node's policy"}},
		{name: "a refused slice once allowed is created", desired: []vserver.Spec{spec("spam_a")},
			current: []*vserver.VServer{vs(spec("spam_a"), src, vserver.StateRefused, func(v *vserver.VServer) { v.Reason = "site spam is refused by the node's policy" })},
			want:    []string{"create spam_a: assigned"}},
		{name: "max vservers: running ones keep their place, new ones by name", policy: `{"max_vservers":2}`,
			desired: []vserver.Spec{spec("pl_a"), spec("pl_b"), spec("pl_z")},
			current: []*vserver.VServer{vs(spec("pl_z"), src, vserver.StateRunning)},
			want:    []string{"create pl_a: assigned", "refuse pl_b: the node's limit of 2 vservers is reached"}},
		{name: "max vservers counts the admin's too", policy: `{"max_vservers":1}`,
			desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_x"), vserver.OriginAdmin, vserver.StateRunning)},
			want:    []string{"refuse pl_a: the node's limit of 1 vservers is reached"}},
		{name: "a lower max turns away the newest", policy: `{"max_vservers":1}`,
			desired: []vserver.Spec{spec("pl_a"), spec("pl_b")},
			current: []*vserver.VServer{
				vs(spec("pl_a"), src, vserver.StateRunning, func(v *vserver.VServer) { v.Created = now.Add(-time.Minute) }),
				vs(spec("pl_b"), src, vserver.StateRunning, func(v *vserver.VServer) { v.Created = now.Add(-time.Hour) }),
			},
			want: []string{"refuse pl_a: the node's limit of 1 vservers is reached"}},
		{name: "a new cap updates a running vserver", policy: `{"caps":{"memory":"32M"}}`,
			desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"update pl_a: rspec changed: memory 64M -> 32M; memory capped from 64M to 32M by the node's policy"}},
		{name: "a capped vserver is steady", policy: `{"caps":{"memory":"32M"}}`,
			desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning, func(v *vserver.VServer) { v.Applied.Memory = 32 << 20 })}},
		{name: "a lifted cap updates it back", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning, func(v *vserver.VServer) { v.Applied.Memory = 32 << 20 })},
			want:    []string{"update pl_a: rspec changed: memory 32M -> 64M"}},
		{name: "an invalid assignment fails with its reason", desired: []vserver.Spec{spec("pl_a", withMemory(1))},
			want: []string{"fail pl_a: vserver pl_a: invalid rspec: memory 1 is below the 6M a vserver needs"}},
		{name: "an invalid assignment recorded already is quiet", desired: []vserver.Spec{spec("pl_a", withMemory(1))},
			current: []*vserver.VServer{vs(spec("pl_a", withMemory(1)), src, vserver.StateFailed, func(v *vserver.VServer) {
				v.Reason = "vserver pl_a: invalid rspec: memory 1 is below the 6M a vserver needs"
			})}},
		{name: "an invalid change leaves the running vserver as it is", desired: []vserver.Spec{spec("pl_a", withMemory(1))},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"skip pl_a: the assigned spec is invalid (vserver pl_a: invalid rspec: memory 1 is below the 6M a vserver needs); the vserver keeps its current one"}},
		{name: "an admin's vserver of the same slice is not taken over", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a"), vserver.OriginAdmin, vserver.StateRunning)},
			want:    []string{"skip pl_a: slice pl_a already has a vserver made by admin; the assignment waits until it is removed"}},
		{name: "removals come before creates", desired: []vserver.Spec{spec("pl_b")}, policy: `{"max_vservers":1}`,
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"remove pl_a: no longer assigned", "create pl_b: assigned"}},

		// The source's stop, start and restart (a slice stopped, started
		// or restarted at its authority).
		{name: "a stopped slice stops its running vserver", desired: []vserver.Spec{spec("pl_a", stopped)},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"stop pl_a: its slice is stopped"}},
		{name: "a vserver its source stopped is steady and not revived", desired: []vserver.Spec{spec("pl_a", stopped)},
			current: []*vserver.VServer{vs(spec("pl_a", stopped), src, vserver.StateStopped)}},
		{name: "a crashed vserver of a stopped slice is marked stopped, not revived", desired: []vserver.Spec{spec("pl_a", stopped)},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateStopped, func(v *vserver.VServer) { v.ExitCode = 137 })},
			want:    []string{"stop pl_a: its slice is stopped"}},
		{name: "an admin's start of a vserver its slice wants stopped is undone", desired: []vserver.Spec{spec("pl_a", stopped)},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"stop pl_a: its slice is stopped"}},
		{name: "a started slice starts the vserver its source stopped", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a", stopped), src, vserver.StateStopped)},
			want:    []string{"start pl_a: its slice is started again"}},
		{name: "the admin's hold outlasts the source's start", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a", stopped), src, vserver.StateStopped, held)},
			want:    []string{"start pl_a: its slice is started again; it stays stopped: the node's admin holds it"}},
		{name: "a vserver the admin holds is marked when its slice is stopped", desired: []vserver.Spec{spec("pl_a", stopped)},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateStopped, held)},
			want:    []string{"stop pl_a: its slice is stopped"}},
		{name: "a higher restart generation restarts", desired: []vserver.Spec{spec("pl_a", generation(2))},
			current: []*vserver.VServer{vs(spec("pl_a", generation(1)), src, vserver.StateRunning)},
			want:    []string{"restart pl_a: restart 2 asked"}},
		{name: "a restart applied already is not redone", desired: []vserver.Spec{spec("pl_a", generation(2))},
			current: []*vserver.VServer{vs(spec("pl_a", generation(2)), src, vserver.StateRunning)}},
		{name: "a lower restart generation does nothing", desired: []vserver.Spec{spec("pl_a", generation(1))},
			current: []*vserver.VServer{vs(spec("pl_a", generation(3)), src, vserver.StateRunning)}},
		{name: "a restart of a crashed vserver starts it once, not also a revive", desired: []vserver.Spec{spec("pl_a", generation(1))},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateStopped)},
			want:    []string{"restart pl_a: restart 1 asked"}},
		{name: "a restart of a started slice starts the vserver once", desired: []vserver.Spec{spec("pl_a", generation(4))},
			current: []*vserver.VServer{vs(spec("pl_a", stopped, generation(3)), src, vserver.StateStopped)},
			want:    []string{"restart pl_a: restart 4 asked"}},
		{name: "a restart while stopped is recorded and the vserver stays stopped", desired: []vserver.Spec{spec("pl_a", stopped, generation(3))},
			current: []*vserver.VServer{vs(spec("pl_a", stopped, generation(2)), src, vserver.StateStopped)},
			want:    []string{"stop pl_a: restart 3 asked while its slice is stopped; recorded, it stays stopped"}},
		{name: "a restart of a vserver the admin holds only records it", desired: []vserver.Spec{spec("pl_a", generation(1))},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateStopped, held)},
			want:    []string{"restart pl_a: restart 1 asked; it stays stopped: the node's admin holds it"}},
		{name: "stop and restart changes go with an rspec change, never a recreate",
			desired: []vserver.Spec{spec("pl_a", stopped, generation(5), withMemory(128<<20))},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"update pl_a: rspec changed: memory 64M -> 128M", "stop pl_a: its slice is stopped"}},
		{name: "an image change recreates a stopped slice's vserver (created stopped)",
			desired: []vserver.Spec{spec("pl_a", stopped, withImage("debian"))},
			current: []*vserver.VServer{vs(spec("pl_a", stopped), src, vserver.StateStopped)},
			want:    []string{"recreate pl_a: image changed from busybox to debian"}},
		{name: "without a source set a vserver its source stopped is not revived", noSet: true,
			current: []*vserver.VServer{vs(spec("pl_a", stopped), src, vserver.StateStopped)}},
		{name: "an admin's vserver created stopped is not revived",
			current: []*vserver.VServer{vs(spec("pl_a", stopped), vserver.OriginAdmin, vserver.StateStopped)}},

		// The slice overlay: its peers change in place, the rest of it
		// only with a new container.
		{name: "a slice on an overlay is created", desired: []vserver.Spec{spec("pl_a", onOverlay())},
			want: []string{"create pl_a: assigned"}},
		{name: "a matching overlay is left alone", desired: []vserver.Spec{spec("pl_a", onOverlay())},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)}},
		{name: "the same peers in another order and repeated are no change",
			desired: []vserver.Spec{spec("pl_a", onOverlay(peers("10.202.0.3", "10.202.0.2", "10.202.0.3")))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)}},
		{name: "a new peer is set in place", desired: []vserver.Spec{spec("pl_a", onOverlay(peers("10.202.0.2", "10.202.0.3", "10.202.0.4")))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"set-peers pl_a: slice overlay peers changed: added 10.202.0.4"}},
		{name: "a peer gone and one added", desired: []vserver.Spec{spec("pl_a", onOverlay(peers("10.202.0.2", "10.202.0.9")))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"set-peers pl_a: slice overlay peers changed: added 10.202.0.9; gone 10.202.0.3"}},
		{name: "the last peers gone", desired: []vserver.Spec{spec("pl_a", onOverlay(peers()))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"set-peers pl_a: slice overlay peers changed: gone 10.202.0.2,10.202.0.3"}},
		{name: "peers of a stopped slice's vserver are set, and it stays stopped",
			desired: []vserver.Spec{spec("pl_a", stopped, onOverlay(peers("10.202.0.2")))},
			current: []*vserver.VServer{vs(spec("pl_a", stopped, onOverlay()), src, vserver.StateStopped)},
			want:    []string{"set-peers pl_a: slice overlay peers changed: gone 10.202.0.3"}},
		{name: "peers go with an rspec change, in place",
			desired: []vserver.Spec{spec("pl_a", withMemory(128<<20), onOverlay(peers("10.202.0.2")))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"update pl_a: rspec changed: memory 64M -> 128M", "set-peers pl_a: slice overlay peers changed: gone 10.202.0.3"}},
		{name: "a new address recreates, peers and all", desired: []vserver.Spec{spec("pl_a", onOverlay(peers("10.202.0.2"), func(o *vserver.Overlay) { o.Address = "10.96.100.5" }))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"recreate pl_a: slice overlay address changed from 10.96.100.2 to 10.96.100.5"}},
		{name: "a new VNI recreates", desired: []vserver.Spec{spec("pl_a", onOverlay(func(o *vserver.Overlay) { o.VNI = 4301 }))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"recreate pl_a: slice overlay VNI changed from 4300 to 4301"}},
		{name: "a new subnet recreates", desired: []vserver.Spec{spec("pl_a", onOverlay(func(o *vserver.Overlay) { o.Subnet, o.Address = "10.96.200.0/24", "10.96.200.2" }))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"recreate pl_a: slice overlay subnet changed from 10.96.100.0/24 to 10.96.200.0/24"}},
		{name: "a new underlay address recreates", desired: []vserver.Spec{spec("pl_a", onOverlay(func(o *vserver.Overlay) { o.Local = "10.202.0.7" }))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{`recreate pl_a: node's underlay address changed from "10.202.0.1" to "10.202.0.7"`}},
		{name: "an overlay added recreates", desired: []vserver.Spec{spec("pl_a", onOverlay())},
			current: []*vserver.VServer{vs(spec("pl_a"), src, vserver.StateRunning)},
			want:    []string{"recreate pl_a: joins slice overlay VNI 4300"}},
		{name: "an overlay removed recreates", desired: []vserver.Spec{spec("pl_a")},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want:    []string{"recreate pl_a: leaves slice overlay VNI 4300"}},
		{name: "an overlay on a node without an underlay address fails with the reason",
			desired: []vserver.Spec{spec("pl_a", onOverlay(func(o *vserver.Overlay) { o.Local = "" }))},
			want:    []string{"fail pl_a: vserver pl_a: slice overlay needs this node's underlay address: start pcr node serve with --address"}},
		{name: "that failure is recorded once",
			desired: []vserver.Spec{spec("pl_a", onOverlay(func(o *vserver.Overlay) { o.Local = "" }))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay(func(o *vserver.Overlay) { o.Local = "" })), src, vserver.StateFailed,
				func(v *vserver.VServer) {
					v.Reason = "vserver pl_a: slice overlay needs this node's underlay address: start pcr node serve with --address"
				})}},
		{name: "losing the underlay address keeps the running vserver as it is",
			desired: []vserver.Spec{spec("pl_a", onOverlay(func(o *vserver.Overlay) { o.Local = "" }))},
			current: []*vserver.VServer{vs(spec("pl_a", onOverlay()), src, vserver.StateRunning)},
			want: []string{"skip pl_a: the assigned spec is invalid (vserver pl_a: slice overlay needs this node's underlay address: " +
				"start pcr node serve with --address); the vserver keeps its current one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pol *Policy
			if tt.policy != "" {
				pol = mustPolicy(t, tt.policy)
			}
			in := planInput{Origin: src, HaveDesired: !tt.noSet, Desired: tt.desired, Current: tt.current, Policy: pol, Now: now, RetryAt: tt.retry}
			got := acts(plan(in))
			if want := strings.Join(tt.want, "\n"); got != want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// A stopped slice's vserver is created stopped: the create carries the
// source's stop and restart generation into the record.
func TestPlanCreatesStoppedSliceStopped(t *testing.T) {
	in := planInput{Origin: src, HaveDesired: true, Desired: []vserver.Spec{spec("pl_a", stopped, generation(7))}, Now: now}
	as := plan(in)
	if len(as) != 1 || as[0].Kind != ActCreate || !as[0].Spec.Stopped || as[0].Spec.RestartGeneration != 7 {
		t.Fatalf("plan = %+v, want one create of a stopped spec at generation 7", as)
	}
	in.Current = applyPlan(as, nil)
	if got := acts(plan(in)); got != "" {
		t.Fatalf("a vserver created stopped is acted on again:\n%s", got)
	}
}

// The source's stop, start and restart reach their fixed point in one
// pass too, and none of them replaces a container.
func TestPlanRunChangesAreIdempotent(t *testing.T) {
	desired := []vserver.Spec{
		spec("pl_a", stopped), spec("pl_b"), spec("pl_c", generation(3)),
		spec("pl_d", stopped, generation(2)), spec("pl_e", generation(1)),
	}
	current := []*vserver.VServer{
		vs(spec("pl_a"), src, vserver.StateRunning),
		vs(spec("pl_b", stopped), src, vserver.StateStopped),
		vs(spec("pl_c", generation(1)), src, vserver.StateRunning),
		vs(spec("pl_d", stopped, generation(1)), src, vserver.StateStopped),
		vs(spec("pl_e"), src, vserver.StateStopped, held),
	}
	in := planInput{Origin: src, HaveDesired: true, Desired: desired, Current: current, Now: now}
	first := plan(in)
	for _, a := range first {
		if a.Kind == ActRecreate || a.Kind == ActCreate || a.Kind == ActRemove {
			t.Errorf("a run change replaced a vserver: %s %s: %s", a.Kind, a.Slice, a.Reason)
		}
	}
	in.Current = applyPlan(first, current)
	if got := acts(plan(in)); got != "" {
		t.Fatalf("second plan is not empty:\n%s", got)
	}
}

// A pass that acted leaves a node whose next plan is empty: the plan's
// actions, applied to the records, reach the fixed point in one step.
func TestPlanIsIdempotent(t *testing.T) {
	pol := mustPolicy(t, `{"max_vservers":2,"caps":{"pids":100},"deny_sites":["spam"]}`)
	desired := []vserver.Spec{spec("pl_a"), spec("pl_b", withMemory(128<<20)), spec("pl_c"), spec("spam_x")}
	current := []*vserver.VServer{
		vs(spec("pl_b"), src, vserver.StateRunning),
		vs(spec("pl_old"), src, vserver.StateRunning),
	}
	in := planInput{Origin: src, HaveDesired: true, Desired: desired, Current: current, Policy: pol, Now: now}
	next := applyPlan(plan(in), current)
	in.Current = next
	if got := acts(plan(in)); got != "" {
		t.Fatalf("second plan is not empty:\n%s", got)
	}
}

// applyPlan is what the Manager would leave after the actions.
func applyPlan(as []Action, current []*vserver.VServer) []*vserver.VServer {
	bySlice := map[string]*vserver.VServer{}
	var order []string
	for _, v := range current {
		c := *v
		bySlice[v.Slice] = &c
		order = append(order, v.Slice)
	}
	for _, a := range as {
		switch a.Kind {
		case ActRemove:
			delete(bySlice, a.Slice)
		case ActCreate, ActRecreate:
			state := vserver.StateRunning
			if a.Spec.Stopped {
				state = vserver.StateStopped
			}
			v := vs(a.Spec, a.Origin, state)
			v.Applied, v.Reason = a.Applied, a.Note
			bySlice[a.Slice] = v
			order = append(order, a.Slice)
		case ActRefuse:
			v := vs(a.Spec, a.Origin, vserver.StateRefused)
			v.Reason = a.Reason
			bySlice[a.Slice] = v
			order = append(order, a.Slice)
		case ActUpdate:
			v := bySlice[a.Slice]
			v.Rspec, v.Applied, v.Reason = a.Spec.Rspec, a.Applied, a.Note
		case ActExpiry:
			bySlice[a.Slice].Expires = a.Spec.Expires
		case ActRevive:
			bySlice[a.Slice].State = vserver.StateRunning
		case ActStop:
			v := bySlice[a.Slice]
			v.State, v.Stopped = vserver.StateStopped, true
			v.RestartGeneration = max(v.RestartGeneration, a.Spec.RestartGeneration)
		case ActStart:
			v := bySlice[a.Slice]
			v.Stopped = false
			if !v.Held {
				v.State = vserver.StateRunning
			}
		case ActRestart:
			v := bySlice[a.Slice]
			v.Stopped, v.RestartGeneration = false, max(v.RestartGeneration, a.Spec.RestartGeneration)
			if !v.Held {
				v.State = vserver.StateRunning
			}
		case ActPeers:
			v := bySlice[a.Slice]
			o := *v.Overlay
			o.Peers = a.Spec.Overlay.Peers
			v.Overlay = &o
		}
	}
	var out []*vserver.VServer
	seen := map[string]bool{}
	for _, s := range order {
		if v, ok := bySlice[s]; ok && !seen[s] {
			out = append(out, v)
			seen[s] = true
		}
	}
	return out
}

// A slice overlay's changes reach their fixed point in one pass, and a
// change of peers alone never replaces a container.
func TestPlanOverlayChangesAreIdempotent(t *testing.T) {
	desired := []vserver.Spec{
		spec("pl_a", onOverlay(peers("10.202.0.4"))),
		spec("pl_b", onOverlay(func(o *vserver.Overlay) { o.Address = "10.96.100.9" })),
		spec("pl_c", onOverlay()),
		spec("pl_d"),
	}
	current := []*vserver.VServer{
		vs(spec("pl_a", onOverlay()), src, vserver.StateRunning),
		vs(spec("pl_b", onOverlay()), src, vserver.StateRunning),
		vs(spec("pl_d", onOverlay()), src, vserver.StateRunning),
	}
	in := planInput{Origin: src, HaveDesired: true, Desired: desired, Current: current, Now: now}
	first := plan(in)
	kinds := map[string]ActionKind{}
	for _, a := range first {
		kinds[a.Slice] = a.Kind
	}
	want := map[string]ActionKind{"pl_a": ActPeers, "pl_b": ActRecreate, "pl_c": ActCreate, "pl_d": ActRecreate}
	for slice, k := range want {
		if kinds[slice] != k {
			t.Errorf("%s: %s, want %s (plan:\n%s)", slice, kinds[slice], k, acts(first))
		}
	}
	in.Current = applyPlan(first, current)
	if got := acts(plan(in)); got != "" {
		t.Fatalf("second plan is not empty:\n%s", got)
	}
}
