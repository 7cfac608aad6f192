package cgroup

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// Modes reported by Mode and stored in State.Version.
const (
	ModeV1     = "v1"
	ModeHybrid = "hybrid"
	ModeV2     = "v2"
)

const defaultMount = "/sys/fs/cgroup"

// Mode reports "v1", "hybrid" or "v2" for this host. It costs one or two
// statfs calls, so callers may use it freely.
func Mode() string {
	var st unix.Statfs_t
	if unix.Statfs(defaultMount, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return ModeV2
	}
	if unix.Statfs(defaultMount+"/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return ModeHybrid
	}
	return ModeV1
}

// Hierarchy is one mounted cgroup hierarchy as the caller sees it.
type Hierarchy struct {
	Mount  string // where the hierarchy is mounted
	Caller string // the calling process's own cgroup, as a directory below Mount
}

// Host describes the cgroup layout New resolves paths against. DetectHost
// fills it from /proc; tests build one over a fixture tree.
type Host struct {
	Mode string
	// Hierarchies maps each v1 controller ("cpu", "memory", "name=systemd", …)
	// to its hierarchy; in v2 mode the single key "" is the unified hierarchy.
	// In hybrid mode the unified hierarchy is left out on purpose: pcr only
	// reads it, never creates there.
	Hierarchies map[string]Hierarchy
}

// DetectHost reads /proc/self/mountinfo and /proc/self/cgroup once each.
func DetectHost() (*Host, error) {
	text, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmtlite.Errorf("detect cgroups: %w", err)
	}
	mounts, err := parseCgroupMounts(string(text))
	if err != nil {
		return nil, fmtlite.Errorf("detect cgroups: /proc/self/mountinfo: %w", err)
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmtlite.Errorf("detect cgroups: %w", err)
	}
	defer f.Close()
	return hostFrom(mounts, f)
}

// hostFrom matches the caller's cgroup lines to the mounts that show them.
func hostFrom(mounts []cgroupMount, selfCgroup io.Reader) (*Host, error) {
	type line struct{ controllers, path string }
	var lines []line
	unifiedPath := ""
	sc := bufio.NewScanner(selfCgroup)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unifiedPath = parts[2]
			continue
		}
		lines = append(lines, line{parts[1], parts[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmtlite.Errorf("detect cgroups: read /proc/self/cgroup: %w", err)
	}

	h := &Host{Hierarchies: make(map[string]Hierarchy)}
	var v1Mounts, v2Mounts []cgroupMount
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup":
			v1Mounts = append(v1Mounts, m)
		case "cgroup2":
			v2Mounts = append(v2Mounts, m)
		}
	}
	switch {
	case len(v1Mounts) == 0 && len(v2Mounts) > 0:
		h.Mode = ModeV2
		m := pickMount(v2Mounts, unifiedPath)
		if m == nil {
			return nil, fmtlite.Errorf("detect cgroups: no cgroup2 mount shows our cgroup %q", unifiedPath)
		}
		h.Hierarchies[""] = Hierarchy{Mount: m.Mountpoint, Caller: callerDir(m, unifiedPath)}
		return h, nil
	case len(v1Mounts) == 0:
		return nil, fmtlite.Errorf("detect cgroups: no cgroup filesystem is mounted")
	case len(v2Mounts) > 0:
		h.Mode = ModeHybrid
	default:
		h.Mode = ModeV1
	}
	for _, l := range lines {
		names := strings.Split(l.controllers, ",")
		var candidates []cgroupMount
		for _, m := range v1Mounts {
			if hasOption(m.Options, names[0]) {
				candidates = append(candidates, m)
			}
		}
		m := pickMount(candidates, l.path)
		if m == nil {
			// Hierarchy not mounted in our namespace: nothing pcr can manage.
			continue
		}
		hier := Hierarchy{Mount: m.Mountpoint, Caller: callerDir(m, l.path)}
		for _, n := range names {
			h.Hierarchies[n] = hier
		}
	}
	if len(h.Hierarchies) == 0 {
		return nil, fmtlite.Errorf("detect cgroups: no v1 hierarchy of /proc/self/cgroup is mounted")
	}
	return h, nil
}

func hasProcs(dir string) bool {
	procs, err := readString(dir, "cgroup.procs")
	return err == nil && procs != ""
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// pickMount prefers a mount of the whole hierarchy; a bind of a subtree (as
// inside another container) works only when our cgroup lies below its root.
func pickMount(ms []cgroupMount, path string) *cgroupMount {
	var best *cgroupMount
	for i, m := range ms {
		if m.Root == "/" {
			return &ms[i]
		}
		if best == nil && (path == m.Root || strings.HasPrefix(path, m.Root+"/")) {
			best = &ms[i]
		}
	}
	return best
}

func callerDir(m *cgroupMount, path string) string {
	if m.Root != "/" {
		path = strings.TrimPrefix(path, m.Root)
	}
	return filepath.Join(m.Mountpoint, path)
}

// New resolves cgroupsPath for the container id against the real host.
func New(cgroupsPath, id string) (Manager, error) {
	h, err := DetectHost()
	if err != nil {
		return nil, err
	}
	return h.New(cgroupsPath, id)
}

// New resolves cgroupsPath per the OCI spec: "" means "pcr/<id>" and a
// relative path is nested under the caller's own cgroup in each hierarchy;
// an absolute path is taken from each hierarchy's mount point. Nothing is
// created until Apply.
func (h *Host) New(cgroupsPath, id string) (Manager, error) {
	shared := cgroupsPath == ""
	if cgroupsPath == "" {
		if id == "" || strings.ContainsRune(id, '/') || id == "." || id == ".." {
			return nil, fmtlite.Errorf("cgroup for container %q: invalid id", id)
		}
		cgroupsPath = "pcr/" + id
	}
	abs := filepath.IsAbs(cgroupsPath)
	rel := filepath.Clean(cgroupsPath)
	if abs {
		rel = filepath.Clean("/" + cgroupsPath)
	} else if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmtlite.Errorf("cgroup for container %q: cgroupsPath %q leaves the caller's own cgroup", id, cgroupsPath)
	}
	if rel == "/" {
		return nil, fmtlite.Errorf("cgroup for container %q: cgroupsPath %q is a hierarchy root", id, cgroupsPath)
	}
	paths := make(map[string]string, len(h.Hierarchies))
	for name, hier := range h.Hierarchies {
		switch {
		case abs:
			paths[name] = filepath.Join(hier.Mount, rel)
		case h.Mode == ModeV2 && hier.Caller != hier.Mount && hasProcs(hier.Caller):
			// v2 lets a non-root cgroup with processes hand no controller
			// to its children, and on a real host the caller's cgroup holds
			// pcr itself: below it no container could get a limit. Its
			// parent delegates to the caller already, so pcr's cgroups go
			// beside the caller there, as runc places them.
			paths[name] = filepath.Join(filepath.Dir(hier.Caller), rel)
		default:
			paths[name] = filepath.Join(hier.Caller, rel)
		}
	}
	if h.Mode == ModeV2 {
		return &v2Manager{dir: paths[""], caller: h.Hierarchies[""].Caller, sharedParent: shared}, nil
	}
	return &v1Manager{mode: h.Mode, paths: paths, sharedParent: shared}, nil
}
