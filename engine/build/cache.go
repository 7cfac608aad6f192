package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cache maps a step's key to the image ID it produced, one file per key
// under <root>/build/cache. A key is the parent image ID plus everything
// that decides the step's result (the expanded instruction, for COPY and
// ADD the digest of the sources), so a changed input misses, and every
// later step then misses too because its parent differs.
type cache struct{ dir string }

func cacheKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c cache) get(key string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(c.dir, key))
	if err != nil {
		return "", false
	}
	id := strings.TrimSpace(string(data))
	return id, strings.HasPrefix(id, "sha256:")
}

// put writes the entry through a temp file and rename: a reader sees the
// whole ID or nothing.
func (c cache) put(key, id string) error {
	f, err := os.CreateTemp(c.dir, "."+key[:12]+".tmp-")
	if err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	_, err = f.WriteString(id + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(c.dir, key))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("build cache: write %s: %w", key[:12], err)
	}
	return nil
}
