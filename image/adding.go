package image

import (
	"io"
	"os"

	"github.com/opencontainers/go-digest"
)

// adding is one operation that adds content (import, commit, build, load,
// pull). It holds the gc lock shared so no rmi or prune runs meanwhile, and
// remembers what it created so that a failure removes exactly that — unless
// the index has come to reference it (another image shares the content).
type adding struct {
	s      *Store
	lock   *flock
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

// finish releases the lock, first removing what this operation created and
// no image references: all of it after a failure, and after a success the
// intermediates (a plain layer tar that was stored gzipped instead).
func (a *adding) finish(errp *error) {
	defer a.lock.Unlock()
	if len(a.blobs) == 0 && len(a.layers) == 0 {
		return
	}
	l, err := a.s.lockIndex()
	if err != nil {
		return
	}
	defer l.Unlock()
	idx, err := a.s.readIndex()
	if err != nil {
		return
	}
	blobs, chains := a.s.references(idx)
	for i := len(a.layers) - 1; i >= 0; i-- {
		if !chains[a.layers[i]] {
			a.s.removeLayer(a.layers[i])
		}
	}
	for _, b := range a.blobs {
		if !blobs[b] {
			os.Remove(a.s.blobPath(b))
		}
	}
}

func (a *adding) putBlob(r io.Reader, want digest.Digest, size int64) (digest.Digest, int64, error) {
	existed := want != "" && a.s.hasBlob(want)
	d, n, err := a.s.putBlob(r, want, size)
	if err == nil && !existed {
		a.blobs = append(a.blobs, d)
	}
	return d, n, err
}

func (a *adding) putBlobBytes(data []byte) (digest.Digest, error) {
	existed := a.s.hasBlob(digest.FromBytes(data))
	d, err := a.s.putBlobBytes(data)
	if err == nil && !existed {
		a.blobs = append(a.blobs, d)
	}
	return d, err
}

func (a *adding) unpack(r io.Reader, parents []Layer, wantDiffID digest.Digest) (Layer, error) {
	l, created, err := a.s.unpackLayer(r, parents, wantDiffID)
	if created {
		a.layers = append(a.layers, l.ChainID)
	}
	return l, err
}
