package runtime

import (
	"slices"
	"testing"

	"pcr/cgroup"
)

// fakeCgroup lists pids and records AddProc; nothing else is called.
type fakeCgroup struct {
	cgroup.Manager
	pids  []int
	added []int
}

func (f *fakeCgroup) Pids() ([]int, error) { return f.pids, nil }
func (f *fakeCgroup) AddProc(pid int) error {
	f.added = append(f.added, pid)
	return nil
}

// A child that should have joined its cgroup but did not (a pcr-init older
// than pcr ignores the fds) is placed by pid; one that joined, or that was
// placed by pid already, is left alone.
func TestEnsureInCgroup(t *testing.T) {
	for _, c := range []struct {
		name   string
		child  child
		pids   []int
		placed bool
	}{
		{"joined", child{pid: 42, joinedCgroup: true}, []int{7, 42}, false},
		{"did not join", child{pid: 42, joinedCgroup: true}, []int{7}, true},
		{"placed by the parent", child{pid: 42}, nil, false},
	} {
		cg := &fakeCgroup{pids: c.pids}
		if err := ensureInCgroup(cg, &c.child); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := slices.Equal(cg.added, []int{42}); got != c.placed {
			t.Errorf("%s: AddProc calls %v, want placed=%v", c.name, cg.added, c.placed)
		}
	}
}
