package engine

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/engine/internal/inroot"
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

// setProcessUser resolves the record's user on the mounted rootfs into
// the spec, before the runtime runs it. Doing it at each start, as Docker
// does, sees users that the container itself (or a commit) added since
// its create.
func setProcessUser(rootfs string, rec *Record, spec *specs.Spec) error {
	user, err := resolveUser(rootfs, rec.User)
	if err != nil {
		return fmt.Errorf("start container %s: %w", ShortID(rec.ID), err)
	}
	if spec.Process == nil {
		return fmt.Errorf("start container %s: config.json has no process", ShortID(rec.ID))
	}
	spec.Process.User = user
	return nil
}
