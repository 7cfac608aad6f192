package image

import (
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// adding is one operation that adds content (import, commit, build, load,
// pull). It holds the gc lock shared so no rmi or prune runs meanwhile, and
// remembers the blobs and layers it created.
//
// Those it leaves unreferenced (all of them after a failure; a plain layer
// tar re-stored gzipped after a success) are removed only when nothing else
// could rely on them: a concurrent add may have found one of them present
// and be about to reference it, so finish removes them only if it can take
// the gc lock exclusively at once — proof that no other add, and no LockUse
// holder, is in flight. Otherwise they stay, complete but unnamed, for the
// next prune, which removes them under the same exclusive lock.
type adding struct {
	s    *Store
	lock *flock

	mu     sync.Mutex // blobs and layers: parallel downloads record into them
	blobs  []digest.Digest
	layers []digest.Digest
}

func (s *Store) beginAdd() (*adding, error) {
	l, err := s.lockAdd()
	if err != nil {
		return nil, err
	}
	return &adding{s: s, lock: l}, nil
}

// finish releases the shared lock, then removes what this operation created
// and the index does not reference, if no other user holds the store.
func (a *adding) finish() {
	a.lock.Unlock()
	a.mu.Lock()
	blobs, layers := a.blobs, a.layers
	a.mu.Unlock()
	if len(blobs) == 0 && len(layers) == 0 {
		return
	}
	gc, err := lockFile(filepath.Join(a.s.imagesDir, ".gc.lock"), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return // another add or user is in flight: prune sweeps these later
	}
	defer gc.Unlock()
	idx, err := a.s.readIndex()
	if err != nil {
		return
	}
	refBlobs, chains := a.s.references(idx)
	for i := len(layers) - 1; i >= 0; i-- {
		if !chains[layers[i]] {
			a.s.removeLayer(layers[i])
		}
	}
	for _, b := range blobs {
		if !refBlobs[b] {
			os.Remove(a.s.blobPath(b))
		}
	}
}

func (a *adding) created(blob, chain digest.Digest) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if blob != "" {
		a.blobs = append(a.blobs, blob)
	}
	if chain != "" {
		a.layers = append(a.layers, chain)
	}
}

func (a *adding) putBlob(r io.Reader, want digest.Digest, size int64) (digest.Digest, int64, error) {
	existed := want != "" && a.s.hasBlob(want)
	d, n, err := a.s.putBlob(r, want, size)
	if err == nil && !existed {
		a.created(d, "")
	}
	return d, n, err
}

func (a *adding) putBlobBytes(data []byte) (digest.Digest, error) {
	existed := a.s.hasBlob(digest.FromBytes(data))
	d, err := a.s.putBlobBytes(data)
	if err == nil && !existed {
		a.created(d, "")
	}
	return d, err
}

func (a *adding) unpack(r io.Reader, parents []Layer, wantDiffID digest.Digest) (Layer, error) {
	l, created, err := a.s.unpackLayer(r, parents, wantDiffID)
	if created {
		a.created("", l.ChainID)
	}
	return l, err
}
