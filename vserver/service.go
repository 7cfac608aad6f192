package vserver

import "context"

// Local is the Service of the Manager itself, used by `pcr vserver` when
// no node manager runs: the admin's requests, without the node's policy.
func (m *Manager) Local() Service { return local{m} }

type local struct{ m *Manager }

func (l local) Create(_ context.Context, spec Spec) (*VServer, error) {
	return l.m.Create(spec, CreateOptions{Origin: OriginAdmin})
}
func (l local) List(context.Context) ([]*VServer, error)          { return l.m.List() }
func (l local) Get(_ context.Context, s string) (*VServer, error) { return l.m.Get(s) }
func (l local) Start(_ context.Context, s string) error           { return l.m.Start(s) }
func (l local) Stop(_ context.Context, s string) error            { return l.m.Stop(s) }
func (l local) Restart(_ context.Context, s string) error         { return l.m.Restart(s) }
func (l local) Remove(_ context.Context, s string) error          { return l.m.Remove(s) }
func (l local) Stats(_ context.Context, s string) (*Stats, error) { return l.m.Stats(s) }
