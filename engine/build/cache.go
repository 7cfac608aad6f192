package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"pcr/internal/atomicfile"
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

// put records the entry atomically: a reader sees the whole ID or nothing.
func (c cache) put(key, id string) error {
	if err := atomicfile.Write(filepath.Join(c.dir, key), []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return nil
}
