// Package atomicfile writes small records so that a reader, or a pcr killed
// halfway, sees the old content or the new one, never a part of either.
package atomicfile

import (
	"os"
	"path/filepath"

	"pcr/internal/fmtlite"
)

// Write replaces path with data through a unique temp file in the same
// directory and a rename. Two writers racing never share a temp file; the
// last rename wins. It does not fsync: records that must survive a power
// loss use WriteSync.
func Write(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, false)
}

// WriteSync is Write with an fsync of the data before the rename, for
// indexes whose loss after a crash would orphan content (index.json).
func WriteSync(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, true)
}

func write(path string, data []byte, mode os.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmtlite.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmtlite.Errorf("write %s: %w", path, err)
	}
	return nil
}
