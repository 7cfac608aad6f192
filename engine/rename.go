package engine

import (
	"fmt"
)

// Rename gives a container a new name. The new name's link is made first
// (os.Symlink fails when it is taken, so two renames racing for one name
// cannot both win), then the record is rewritten, and only then is the
// old link removed: a pcr killed in between leaves the container findable
// under its old name and at worst a second link that rm cleans up.
func (e *Engine) Rename(ref, newName string) error {
	if err := ValidateName(newName); err != nil {
		return err
	}
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	dir := e.dir(id)
	unlock, err := lockContainer(dir)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := readRecord(dir)
	if err != nil {
		return fmt.Errorf("rename container %s: %w", ShortID(id), err)
	}
	old := rec.Name
	if old == newName {
		return fmt.Errorf("rename container %s: it is already named %q", ShortID(id), newName)
	}
	if err := e.claimName(newName, id); err != nil {
		return fmt.Errorf("rename container %s: %w", ShortID(id), err)
	}
	rec.Name, rec.Options.Name = newName, newName
	if err := writeRecord(dir, rec); err != nil {
		e.releaseName(newName, id)
		return fmt.Errorf("rename container %s: %w", ShortID(id), err)
	}
	e.releaseName(old, id)
	return nil
}
