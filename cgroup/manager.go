// Package cgroup creates, limits, inspects and removes a container's
// cgroups on cgroup v1, v1 hybrid and pure v2 hosts, decided at run time.
//
// pcr only writes to cgroups it created itself (recorded in State.Created);
// everything above them, including the caller's own cgroup, is read only.
package cgroup

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// Manager is one container's cgroup, on whichever driver the host needs.
type Manager interface {
	// Apply creates the cgroup(s) if missing and writes the limits in res
	// (nil only creates). Errors name the file and the value.
	Apply(res *specs.LinuxResources) error
	// AddProc moves pid into the cgroup (into every hierarchy on v1).
	AddProc(pid int) error
	// SelfJoinFiles are the files a single-threaded process writes "0" to,
	// to move itself in. On v1 that is each hierarchy's tasks file: a
	// thread moving itself skips the global threadgroup lock whose write
	// side waits for an RCU grace period (10 ms and more per container on
	// this host), which every pid written to cgroup.procs pays. nil on v2,
	// where the init is cloned straight into its cgroup.
	SelfJoinFiles() []string
	Freeze() error
	Thaw() error
	Frozen() (bool, error)
	Stats() (*Stats, error)
	// Pids lists every process in the cgroup and below it.
	Pids() ([]int, error)
	// Kill signals every process in the cgroup.
	Kill(sig unix.Signal) error
	// Delete removes only the directories pcr created, deepest first.
	Delete() error
	// State is what a later process needs to Load this manager.
	State() State
	// FD opens the v2 cgroup directory for clone3's CLONE_INTO_CGROUP
	// (SysProcAttr.UseCgroupFD); the caller closes it. v1 returns -1, nil.
	FD() (int, error)
}

// State is saved in the container's state.json.
type State struct {
	Version string `json:"version"`
	// Paths maps each v1 controller, or "" for the v2 unified hierarchy, to
	// the container's cgroup directory.
	Paths map[string]string `json:"paths"`
	// Created lists the directories pcr made, parents before children.
	Created []string `json:"created,omitempty"`
}

// Load rebuilds the manager of a container created by another pcr process.
func Load(st State) (Manager, error) {
	switch st.Version {
	case ModeV2:
		dir, ok := st.Paths[""]
		if !ok || dir == "" {
			return nil, fmtlite.Errorf("load cgroup state: v2 state has no unified path")
		}
		return &v2Manager{dir: dir, created: slices.Clone(st.Created)}, nil
	case ModeV1, ModeHybrid:
		if len(st.Paths) == 0 {
			return nil, fmtlite.Errorf("load cgroup state: %s state has no paths", st.Version)
		}
		paths := make(map[string]string, len(st.Paths))
		for k, v := range st.Paths {
			paths[k] = v
		}
		return &v1Manager{mode: st.Version, paths: paths, created: slices.Clone(st.Created)}, nil
	default:
		return nil, fmtlite.Errorf("load cgroup state: unknown version %q", st.Version)
	}
}

// created reports whether pcr made dir, the test behind every limit write.
func wasCreated(created []string, dir string) bool {
	return slices.Contains(created, dir)
}
