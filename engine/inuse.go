package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
)

// ImagesInUse returns the IDs of the images some container under root
// was made from, so that rmi and prune leave them alone. It reads the
// records only: a container being created has its record before it has
// anything else, so it is counted too.
func ImagesInUse(root string) (map[digest.Digest]bool, error) {
	dir := filepath.Join(root, containersDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[digest.Digest]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list containers in %s: %w", dir, err)
	}
	used := map[digest.Digest]bool{}
	for _, e := range entries {
		if !e.IsDir() || !isFullID(e.Name()) {
			continue
		}
		r, err := readRecord(filepath.Join(dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile, or a create that has not written it yet
		}
		if err != nil {
			return nil, err
		}
		if r.ImageID != "" {
			used[r.ImageID] = true
		}
	}
	return used, nil
}
