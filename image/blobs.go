package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"pcr/internal/atomicfile"
)

// maxMetadataBlob bounds the manifests and configs read into memory.
const maxMetadataBlob = 8 << 20

func (s *Store) blobPath(d digest.Digest) string {
	return filepath.Join(s.blobsDir, d.Encoded())
}

func (s *Store) hasBlob(d digest.Digest) bool {
	_, err := os.Stat(s.blobPath(d))
	return err == nil
}

// putBlob copies r into the store as a blob. The bytes are hashed while they
// are written to a temp file, and only a stream whose digest (and size, when
// size >= 0) matches want is renamed into blobs/sha256; with want empty the
// computed digest names the blob. A mismatch leaves nothing behind.
func (s *Store) putBlob(r io.Reader, want digest.Digest, size int64) (digest.Digest, int64, error) {
	if want != "" {
		if err := want.Validate(); err != nil {
			return "", 0, fmt.Errorf("blob %q: %w", want, err)
		}
		if want.Algorithm() != digest.SHA256 {
			return "", 0, fmt.Errorf("blob %s: only sha256 digests are supported", want)
		}
		if s.hasBlob(want) {
			// Content-addressed: the stored copy is the same bytes. Drain r so a
			// tee'd reader (an unpack fed from the same stream) still sees them all.
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return "", 0, fmt.Errorf("read blob %s: %w", want, err)
			}
			if size >= 0 && n != size {
				return "", 0, fmt.Errorf("blob %s: size %d, want %d", want, n, size)
			}
			return want, n, nil
		}
	}
	f, err := os.CreateTemp(s.blobsDir, "tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	dg := digest.SHA256.Digester()
	n, err := io.Copy(io.MultiWriter(f, dg.Hash()), r)
	if err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", nonEmpty(want), err)
	}
	got := dg.Digest()
	if want != "" && got != want {
		return "", 0, fmt.Errorf("blob %s: digest mismatch: content is %s", want, got)
	}
	if size >= 0 && n != size {
		return "", 0, fmt.Errorf("blob %s: size %d, want %d", got, n, size)
	}
	if err := f.Sync(); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", got, err)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", got, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", got, err)
	}
	if err := os.Rename(tmp, s.blobPath(got)); err != nil {
		return "", 0, fmt.Errorf("write blob %s: %w", got, err)
	}
	ok = true
	return got, n, nil
}

func nonEmpty(d digest.Digest) string {
	if d == "" {
		return "(new)"
	}
	return d.String()
}

// putBlobBytes stores a small blob (manifest, config) and returns its digest.
func (s *Store) putBlobBytes(data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	if s.hasBlob(d) {
		return d, nil
	}
	if err := atomicfile.WriteSync(s.blobPath(d), data, 0o644); err != nil {
		return "", fmt.Errorf("store blob %s: %w", d, err)
	}
	return d, nil
}

func (s *Store) openBlob(d digest.Digest) (*os.File, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d, err)
	}
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: missing from the store: %w", d, ErrNotFound)
		}
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return f, nil
}

func (s *Store) readBlob(d digest.Digest) ([]byte, error) {
	f, err := s.openBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetadataBlob+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if len(data) > maxMetadataBlob {
		return nil, fmt.Errorf("read blob %s: larger than %d bytes", d, maxMetadataBlob)
	}
	return data, nil
}

func (s *Store) readJSONBlob(d digest.Digest, v any) error {
	data, err := s.readBlob(d)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse blob %s: %w", d, err)
	}
	return nil
}
