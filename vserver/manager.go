// Package vserver is the node side of PlanetLab: a vserver is one
// slice's persistent container on this node, in its own user namespace
// with its own range of host IDs, made from the slice's image on the
// store's shared layers and limited by the slice's rspec.
package vserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"pcr/engine"
)

// ErrNotFound is a slice with no vserver on this node.
var ErrNotFound = errors.New("no such vserver")

// ErrExists is a create for a slice that already has a vserver.
var ErrExists = errors.New("vserver already exists")

// Service is what `pcr vserver` drives: the Manager directly on the
// store, or the node manager over its socket when it runs (which adds the
// node's policy).
type Service interface {
	Create(ctx context.Context, spec Spec) (*VServer, error)
	List(ctx context.Context) ([]*VServer, error)
	Get(ctx context.Context, slice string) (*VServer, error)
	Start(ctx context.Context, slice string) error
	Stop(ctx context.Context, slice string) error
	Restart(ctx context.Context, slice string) error
	Remove(ctx context.Context, slice string) error
	Stats(ctx context.Context, slice string) (*Stats, error)
}

// StopTimeout is how long a vserver's processes get between SIGTERM and
// SIGKILL when it is stopped.
const StopTimeout = 10 * time.Second

// Manager keeps the vservers of one --root: records in <root>/vservers,
// containers in the engine. It holds no state of its own beyond paths.
type Manager struct {
	eng *engine.Engine
	dir string
	log *slog.Logger
}

// New opens the vservers of eng's root.
func New(eng *engine.Engine, log *slog.Logger) (*Manager, error) {
	dir := filepath.Join(eng.Root(), "vservers")
	if err := os.MkdirAll(filepath.Join(dir, "locks"), 0o700); err != nil {
		return nil, fmt.Errorf("open vservers: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{eng: eng, dir: dir, log: log}, nil
}

// Engine is the engine the vservers' containers live in.
func (m *Manager) Engine() *engine.Engine { return m.eng }

// CreateOptions say who asks for a vserver and what the node grants.
type CreateOptions struct {
	// Origin is OriginAdmin (default) or the assigning source's name.
	Origin string
	// Applied is the rspec to enforce when the node capped the request;
	// nil enforces the request as it is. Reason says what was capped.
	Applied *Rspec
	Reason  string
	// CgroupParent places the vserver's cgroup (the node manager's
	// parent for all vservers, limited by the node's reserve).
	CgroupParent string
}

// Validate checks a spec before anything is made.
func (s Spec) Validate(now time.Time) error {
	if err := ValidateSlice(s.Slice); err != nil {
		return err
	}
	if s.Image == "" {
		return fmt.Errorf("vserver %s: no image given", s.Slice)
	}
	if err := validateOnNode(s.Rspec); err != nil {
		return fmt.Errorf("vserver %s: %w", s.Slice, err)
	}
	if !s.Expires.IsZero() && !s.Expires.After(now) {
		return fmt.Errorf("vserver %s: expiry %s is in the past", s.Slice, s.Expires.Format(time.RFC3339))
	}
	if s.Overlay != nil {
		if err := s.Overlay.validate(s.Network); err != nil {
			return fmt.Errorf("vserver %s: %w", s.Slice, err)
		}
	}
	return nil
}

// Create makes the vserver of spec.Slice and starts it, unless
// spec.Stopped: then it is made and left stopped. A failure at any step
// removes what was made: the container, the record, the ID range.
func (m *Manager) Create(spec Spec, o CreateOptions) (*VServer, error) {
	now := time.Now().UTC()
	if err := spec.Validate(now); err != nil {
		return nil, err
	}
	applied := spec.Rspec
	if o.Applied != nil {
		applied = *o.Applied
	}
	if err := validateOnNode(applied); err != nil {
		return nil, fmt.Errorf("vserver %s: %w", spec.Slice, err)
	}
	if o.Origin == "" {
		o.Origin = OriginAdmin
	}
	if err := adminOnly(spec, o.Origin); err != nil {
		return nil, err
	}
	unlockSlice, err := m.lockSlice(spec.Slice)
	if err != nil {
		return nil, err
	}
	defer unlockSlice()
	v, err := m.claim(spec, o, applied, now)
	if err != nil {
		return nil, err
	}
	ok, madeNet := false, false
	defer func() {
		if !ok {
			m.discard(v, madeNet)
		}
	}()
	if spec.Overlay != nil {
		if madeNet, err = m.ensureOverlay(spec.Slice, spec.Overlay); err != nil {
			return nil, err
		}
	}
	rec, err := m.eng.Create(spec.Image, containerOptions(spec, v, applied, o.CgroupParent))
	if err != nil {
		return nil, fmt.Errorf("create vserver %s: %w", spec.Slice, err)
	}
	v.ContainerID = rec.ID
	if err := m.writeRecord(v); err != nil {
		return nil, fmt.Errorf("create vserver %s: %w", spec.Slice, err)
	}
	if !spec.Stopped {
		if _, err := m.eng.Start(rec.ID); err != nil {
			return nil, fmt.Errorf("start vserver %s: %w", spec.Slice, err)
		}
	}
	// Creating until started: while the runtime makes the container its
	// init has a pid, and a vserver shown running then could be taken for
	// one that died if that init is killed.
	v.Status = ""
	if err := m.writeRecord(v); err != nil {
		return nil, fmt.Errorf("create vserver %s: %w", spec.Slice, err)
	}
	ok = true
	m.log.Info("vserver created", "slice", spec.Slice, "image", spec.Image, "origin", o.Origin, "host_uid", v.HostUID, "stopped", spec.Stopped, "reason", o.Reason)
	return m.live(v), nil
}

// containerOptions are the engine's options of v's container: its name,
// ID range and networks, limited by the applied rspec.
func containerOptions(spec Spec, v *VServer, applied Rspec, cgroupParent string) engine.Options {
	opts := engine.Options{
		Name: containerName(spec.Slice), Hostname: hostname(spec.Slice), Network: spec.Network,
		Volumes: spec.Volumes, IdleInit: true, StopSignal: "SIGTERM", CgroupParent: cgroupParent,
		UIDMap: []engine.IDMap{{ContainerID: 0, HostID: v.HostUID, Size: v.IDSize}},
		GIDMap: []engine.IDMap{{ContainerID: 0, HostID: v.HostUID, Size: v.IDSize}},
	}
	engineOptions(applied, &opts)
	if spec.Overlay != nil {
		spec.Overlay.networkOptions(&opts)
	}
	return opts
}

// adminOnly refuses what only the node's admin may give a vserver: host
// directories, the host's network or another container's. A slice from
// elsewhere gets a network of its own on a pcr bridge.
func adminOnly(spec Spec, origin string) error {
	if origin == OriginAdmin {
		return nil
	}
	if len(spec.Volumes) > 0 {
		return fmt.Errorf("vserver %s: volumes are for the node's admin only, not for slices from %s", spec.Slice, origin)
	}
	if spec.Network == "host" || strings.HasPrefix(spec.Network, "container:") {
		return fmt.Errorf("vserver %s: network %q is for the node's admin only, not for slices from %s", spec.Slice, spec.Network, origin)
	}
	return nil
}

// claim writes the record (state creating) and the ID range of a new
// vserver, replacing a refused or failed record of the same slice.
func (m *Manager) claim(spec Spec, o CreateOptions, applied Rspec, now time.Time) (*VServer, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if old, err := m.readRecord(spec.Slice); err == nil {
		if old.Status != StateRefused && old.Status != StateFailed || old.ContainerID != "" {
			return nil, fmt.Errorf("create vserver %s: %w", spec.Slice, ErrExists)
		}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	base, err := m.allocateIDs(spec.Slice)
	if err != nil {
		return nil, err
	}
	v := &VServer{Spec: spec, Origin: o.Origin, Applied: applied, Reason: o.Reason, Status: StateCreating,
		HostUID: base, IDSize: idRangeSize, Created: now}
	if err := m.writeRecord(v); err != nil {
		m.freeIDs(spec.Slice)
		return nil, fmt.Errorf("create vserver %s: %w", spec.Slice, err)
	}
	return v, nil
}

// discard removes all of v: its container (by record or by name, for a
// create killed before the record named it), record and ID range, and,
// with releaseNet, its slice's overlay network once nothing is on it.
func (m *Manager) discard(v *VServer, releaseNet bool) error {
	ref := v.ContainerID
	if ref == "" && v.HostUID != 0 {
		// A create killed before the record named its container: the one
		// by the vserver's name is ours only if it has our ID range.
		if c, err := m.eng.Inspect(containerName(v.Slice)); err == nil && c.Name == containerName(v.Slice) &&
			len(c.Options.UIDMap) > 0 && c.Options.UIDMap[0].HostID == v.HostUID {
			ref = c.ID
		}
	}
	if ref != "" {
		parent := ""
		if c, err := m.eng.Inspect(ref); err == nil {
			parent = c.Options.CgroupParent
		}
		if err := m.eng.Remove(ref, true); err != nil && !errors.Is(err, engine.ErrNoSuchContainer) {
			return fmt.Errorf("remove vserver %s: %w", v.Slice, err)
		}
		m.releaseCgroupParent(parent)
	}
	if releaseNet && v.Overlay != nil {
		m.releaseOverlay(v.Slice, v.Overlay)
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(m.recordPath(v.Slice)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove vserver %s: %w", v.Slice, err)
	}
	return m.freeIDs(v.Slice)
}

// Refuse records that the node will not run spec, and why: ls and
// inspect show the reason. A vserver the slice had is removed first.
func (m *Manager) Refuse(spec Spec, origin, reason string) error {
	if err := ValidateSlice(spec.Slice); err != nil {
		return err
	}
	unlockSlice, err := m.lockSlice(spec.Slice)
	if err != nil {
		return err
	}
	defer unlockSlice()
	if old, err := m.readRecord(spec.Slice); err == nil {
		if old.Status == StateRefused && old.Reason == reason && old.Origin == origin {
			return nil
		}
		if err := m.discard(old, true); err != nil {
			return err
		}
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	v := &VServer{Spec: spec, Origin: origin, Status: StateRefused, Reason: reason, Created: time.Now().UTC()}
	m.log.Warn("vserver refused", "slice", spec.Slice, "origin", origin, "reason", reason)
	return m.writeRecord(v)
}

// Fail records a vserver that could not be made, with the reason, so
// that ls shows it instead of nothing.
func (m *Manager) Fail(spec Spec, origin, reason string) error {
	if err := ValidateSlice(spec.Slice); err != nil {
		return err
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := m.readRecord(spec.Slice); err == nil {
		return nil // a create under way or a vserver: not ours to overwrite
	}
	return m.writeRecord(&VServer{Spec: spec, Origin: origin, Status: StateFailed, Reason: reason, Created: time.Now().UTC()})
}

// Get is one vserver with its live state.
func (m *Manager) Get(slice string) (*VServer, error) {
	if err := ValidateSlice(slice); err != nil {
		return nil, err
	}
	v, err := m.readRecord(slice)
	if err != nil {
		return nil, err
	}
	return m.live(v), nil
}

// List is every vserver of the node, by slice name.
func (m *Manager) List() ([]*VServer, error) {
	names, err := m.slices()
	if err != nil {
		return nil, fmt.Errorf("list vservers: %w", err)
	}
	out := make([]*VServer, 0, len(names))
	for _, n := range names {
		v, err := m.readRecord(n)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m.live(v))
	}
	return out, nil
}

// live fills in the container's state.
func (m *Manager) live(v *VServer) *VServer {
	switch {
	case v.Status != "":
		v.State = v.Status
		return v
	case v.ContainerID == "":
		v.State = StateFailed
		return v
	}
	c, err := m.eng.Inspect(v.ContainerID)
	if err != nil {
		v.State, v.Reason = StateFailed, "its container is gone: "+err.Error()
		return v
	}
	v.StartedAt = c.State.StartedAt
	if c.State.Running {
		v.State, v.Pid = StateRunning, c.State.Pid
	} else {
		v.State, v.ExitCode = StateStopped, c.State.ExitCode
	}
	if nets, err := m.eng.Networks(); err == nil {
		if eps, err := nets.Endpoints(v.ContainerID); err == nil && len(eps) > 0 {
			v.IPAddress = eps[0].IP.String()
		}
	}
	return v
}

// Start starts a stopped vserver and clears the admin's hold and the
// source's stop: a source that still wants it stopped stops it again.
func (m *Manager) Start(slice string) error { return m.start(slice, false) }

// Revive starts a vserver that stopped without being asked to (its init
// died): the node manager's restart of a crashed vserver.
func (m *Manager) Revive(slice string) error { return m.start(slice, true) }

func (m *Manager) start(slice string, revive bool) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	if revive && (v.Held || v.Stopped) {
		return nil
	}
	if v.Held || v.Stopped || revive {
		v.Held, v.Stopped = false, false
		if revive {
			v.Restarts++
		}
		if err := m.writeRecord(v); err != nil {
			return err
		}
	}
	if _, err := m.eng.Start(v.ContainerID); err != nil {
		return fmt.Errorf("start vserver %s: %w", slice, err)
	}
	if revive {
		m.log.Info("vserver restarted", "slice", slice, "reason", "its init had exited", "restarts", v.Restarts)
	}
	return nil
}

// Stop stops a vserver and holds it stopped until Start.
func (m *Manager) Stop(slice string) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	v.Held = true
	if err := m.writeRecord(v); err != nil {
		return err
	}
	if err := m.eng.Stop(v.ContainerID, StopTimeout); err != nil {
		return fmt.Errorf("stop vserver %s: %w", slice, err)
	}
	return nil
}

// Restart stops and starts a vserver.
func (m *Manager) Restart(slice string) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	if v.Held || v.Stopped {
		v.Held, v.Stopped = false, false
		if err := m.writeRecord(v); err != nil {
			return err
		}
	}
	if err := m.eng.Restart(v.ContainerID, StopTimeout); err != nil {
		return fmt.Errorf("restart vserver %s: %w", slice, err)
	}
	return nil
}

// StopBySource stops a vserver because its source wants it stopped (a
// slice stopped at its authority) and records so: the node manager then
// does not take it for crashed, and an admin's start lasts only until
// the source's next pass. generation is the source's restart generation,
// recorded so that a restart asked while stopped is not replayed later.
func (m *Manager) StopBySource(slice string, generation int64) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	// Recorded before the stop: a node manager killed halfway must not
	// find a stopped vserver with no say why and restart it.
	if !v.Stopped || generation > v.RestartGeneration {
		v.Stopped, v.RestartGeneration = true, max(v.RestartGeneration, generation)
		if err := m.writeRecord(v); err != nil {
			return err
		}
	}
	if err := m.eng.Stop(v.ContainerID, StopTimeout); err != nil {
		return fmt.Errorf("stop vserver %s: %w", slice, err)
	}
	return nil
}

// StartBySource lifts the source's stop and starts the vserver, unless
// the node's admin holds it stopped: the admin's hold outlasts it.
func (m *Manager) StartBySource(slice string) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	if v.Stopped {
		v.Stopped = false
		if err := m.writeRecord(v); err != nil {
			return err
		}
	}
	if v.Held {
		return nil
	}
	c, err := m.eng.Inspect(v.ContainerID)
	if err != nil {
		return fmt.Errorf("start vserver %s: %w", slice, err)
	}
	if c.State.Running {
		return nil
	}
	if _, err := m.eng.Start(v.ContainerID); err != nil {
		return fmt.Errorf("start vserver %s: %w", slice, err)
	}
	return nil
}

// RestartBySource restarts a vserver for its source's restart
// generation and records that generation once done, so a failed restart
// is tried again. A vserver the admin holds stopped stays stopped; the
// generation is recorded all the same.
func (m *Manager) RestartBySource(slice string, generation int64) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	if !v.Held {
		if err := m.eng.Restart(v.ContainerID, StopTimeout); err != nil {
			return fmt.Errorf("restart vserver %s: %w", slice, err)
		}
	}
	v.Stopped, v.RestartGeneration = false, max(v.RestartGeneration, generation)
	return m.writeRecord(v)
}

// existing locks a vserver that has a container and reads its record.
func (m *Manager) existing(slice string) (func(), *VServer, error) {
	if err := ValidateSlice(slice); err != nil {
		return nil, nil, err
	}
	unlock, err := m.lockSlice(slice)
	if err != nil {
		return nil, nil, err
	}
	v, err := m.readRecord(slice)
	if err == nil && (v.ContainerID == "" || v.Status == StateCreating) {
		switch {
		case v.Status == StateCreating:
			err = fmt.Errorf("vserver %s was not fully created (its create was interrupted); remove it with pcr vserver rm %s", slice, slice)
		case v.Reason != "":
			err = fmt.Errorf("vserver %s is %s: %s", slice, v.Status, v.Reason)
		default:
			err = fmt.Errorf("vserver %s is %s", slice, v.Status)
		}
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return unlock, v, nil
}

// Remove stops a vserver and removes it with its writable layer, disk
// and ID range; the image's layers stay.
func (m *Manager) Remove(slice string) error {
	if err := ValidateSlice(slice); err != nil {
		return err
	}
	unlockSlice, err := m.lockSlice(slice)
	if err != nil {
		return err
	}
	defer unlockSlice()
	v, err := m.readRecord(slice)
	if err != nil {
		return err
	}
	if err := m.discard(v, true); err != nil {
		return err
	}
	os.Remove(filepath.Join(m.dir, "locks", slice))
	m.log.Info("vserver removed", "slice", slice)
	return nil
}

// Update enforces a new rspec on a vserver in place: cgroup limits, the
// network rate and the disk (grown; a smaller disk is refused) change
// while it runs; nofile applies from its next start.
func (m *Manager) Update(slice string, requested, applied Rspec, reason string) error {
	if err := validateOnNode(applied); err != nil {
		return fmt.Errorf("update vserver %s: %w", slice, err)
	}
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	// The diff is against what the container has, not the record: a pcr
	// killed between the two writes must not make a change look done.
	c, err := m.eng.Inspect(v.ContainerID)
	if err != nil {
		return fmt.Errorf("update vserver %s: %w", slice, err)
	}
	if u, changed := updateOptions(c.Options, applied); changed {
		if err := m.eng.Update(v.ContainerID, u); err != nil {
			return fmt.Errorf("update vserver %s: %w", slice, err)
		}
	}
	v.Rspec, v.Applied, v.Reason = requested, applied, reason
	if err := m.writeRecord(v); err != nil {
		return err
	}
	m.log.Info("vserver limits updated", "slice", slice, "reason", reason)
	return nil
}

// SetExpiry changes when a vserver expires (a renewal).
func (m *Manager) SetExpiry(slice string, t time.Time) error {
	unlock, v, err := m.existing(slice)
	if err != nil {
		return err
	}
	defer unlock()
	v.Expires = t
	return m.writeRecord(v)
}

// updateOptions is the engine update from a container's options to an
// applied rspec; changed is false when there is nothing to do.
func updateOptions(o engine.Options, to Rspec) (engine.UpdateOptions, bool) {
	var want engine.Options
	engineOptions(to, &want)
	u, changed := engine.UpdateOptions{}, false
	if o.Memory != want.Memory {
		// No limit is -1 to the engine's update, as to Docker's.
		mem, swap := want.Memory, want.MemorySwap
		if mem == 0 {
			mem, swap = -1, -1
		}
		u.Memory, u.MemorySwap, changed = &mem, &swap, true
	}
	if o.NanoCPUs != want.NanoCPUs {
		u.NanoCPUs, changed = &want.NanoCPUs, true
	}
	if o.CPUShares != want.CPUShares {
		s := want.CPUShares
		if s == 0 {
			s = 1024
		}
		u.CPUShares, changed = &s, true
	}
	if o.PidsLimit != want.PidsLimit {
		p := want.PidsLimit
		if p == 0 {
			p = -1
		}
		u.PidsLimit, changed = &p, true
	}
	if o.NetRate != want.NetRate {
		u.NetRate, changed = &want.NetRate, true
	}
	if o.StorageSize != want.StorageSize {
		u.StorageSize, changed = &want.StorageSize, true
	}
	if !slices.Equal(o.Ulimits, want.Ulimits) {
		u.Ulimits, changed = want.Ulimits, true
		if u.Ulimits == nil {
			u.Ulimits = []string{}
		}
	}
	return u, changed
}

// Expired are the vservers whose expiry is at or before now.
func (m *Manager) Expired(now time.Time) ([]*VServer, error) {
	all, err := m.List()
	if err != nil {
		return nil, err
	}
	var out []*VServer
	for _, v := range all {
		if !v.Expires.IsZero() && !v.Expires.After(now) {
			out = append(out, v)
		}
	}
	return out, nil
}

// Exec runs a command in a running vserver as its root (or o.User).
func (m *Manager) Exec(slice string, o engine.ExecOptions) (int, error) {
	v, err := m.Get(slice)
	if err != nil {
		return 0, err
	}
	if v.State != StateRunning {
		if v.Reason != "" {
			return 0, fmt.Errorf("vserver %s is %s: %s", slice, v.State, v.Reason)
		}
		return 0, fmt.Errorf("vserver %s is %s; start it with pcr vserver start %s", slice, v.State, slice)
	}
	return m.eng.Exec(v.ContainerID, o)
}
