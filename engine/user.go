package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/engine/internal/inroot"
	"pcr/internal/atomicfile"
)

// resolveUser turns -u USER[:GROUP] (names or numbers) into ids with the
// container's own /etc/passwd and /etc/group, read from its mounted
// rootfs (the image's layers with what the container added on top) and
// opened inside it: a symlinked /etc resolves in the container, never to
// the host's files.
func resolveUser(rootfs, spec string) (specs.User, error) {
	u, err := inroot.ResolveUser(rootfs, spec)
	if err != nil {
		return specs.User{}, err
	}
	return specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids}, nil
}

// setProcessUser resolves the record's user on the mounted rootfs and
// writes the ids into config.json, before the runtime reads it. Doing it
// at each start, as Docker does, sees users that the container itself
// (or a commit) added since its create.
func setProcessUser(dir string, rec *Record) error {
	user, err := resolveUser(filepath.Join(dir, "rootfs"), rec.User)
	if err != nil {
		return fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
	}
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("start container %s: parse %s: %w", ShortID(rec.ID), path, err)
	}
	if spec.Process == nil {
		return fmt.Errorf("start container %s: %s has no process", ShortID(rec.ID), path)
	}
	spec.Process.User = user
	if data, err = json.MarshalIndent(&spec, "", "\t"); err != nil {
		return fmt.Errorf("start container %s: marshal spec: %w", ShortID(rec.ID), err)
	}
	return atomicfile.Write(path, data, 0o644)
}
