package vserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"pcr/internal/atomicfile"
)

// Each vserver gets its own range of host UIDs and GIDs, so that root in
// a vserver is an unprivileged user on the host and UID 1000 in one
// vserver is not UID 1000 in another. Ranges sit far above the host's
// users and the usual /etc/subuid ranges (100000 + 65536·n).
const (
	idRangeSize = 65536
	idBase      = 1 << 30
	idSlots     = (1<<31 - idBase) / idRangeSize // up to 2^31-1: no overflow in uid_t math
)

// idRanges is <root>/vservers/idranges.json: slot per slice. It is read
// and written under the manager's lock only.
type idRanges struct {
	Slots map[string]int `json:"slots"`
}

func (m *Manager) idRangesPath() string { return filepath.Join(m.dir, "idranges.json") }

func (m *Manager) readIDRanges() (*idRanges, error) {
	r := &idRanges{Slots: map[string]int{}}
	data, err := os.ReadFile(m.idRangesPath())
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("parse %s: %w", m.idRangesPath(), err)
	}
	if r.Slots == nil {
		r.Slots = map[string]int{}
	}
	return r, nil
}

func (m *Manager) writeIDRanges(r *idRanges) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(m.idRangesPath(), data, 0o600)
}

// allocateIDs gives slice the lowest free range (its own when it has
// one already) and returns the first host ID. Caller holds m's lock.
func (m *Manager) allocateIDs(slice string) (uint32, error) {
	r, err := m.readIDRanges()
	if err != nil {
		return 0, fmt.Errorf("allocate uid range for %s: %w", slice, err)
	}
	if s, ok := r.Slots[slice]; ok {
		return slotBase(s), nil
	}
	// A slot with no record is a create killed between the two writes
	// (both happen under the lock this caller holds): free it.
	for s := range r.Slots {
		if _, err := os.Stat(m.recordPath(s)); errors.Is(err, os.ErrNotExist) {
			delete(r.Slots, s)
		}
	}
	used := make([]int, 0, len(r.Slots))
	for _, s := range r.Slots {
		used = append(used, s)
	}
	sort.Ints(used)
	slot := 0
	for _, s := range used {
		if s == slot {
			slot++
		} else if s > slot {
			break
		}
	}
	if slot >= idSlots {
		return 0, fmt.Errorf("allocate uid range for %s: all %d ranges are in use", slice, idSlots)
	}
	r.Slots[slice] = slot
	if err := m.writeIDRanges(r); err != nil {
		return 0, fmt.Errorf("allocate uid range for %s: %w", slice, err)
	}
	return slotBase(slot), nil
}

// freeIDs releases slice's range. Caller holds m's lock.
func (m *Manager) freeIDs(slice string) error {
	r, err := m.readIDRanges()
	if err != nil {
		return err
	}
	if _, ok := r.Slots[slice]; !ok {
		return nil
	}
	delete(r.Slots, slice)
	return m.writeIDRanges(r)
}

func slotBase(slot int) uint32 { return uint32(idBase + slot*idRangeSize) }
