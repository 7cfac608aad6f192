// Package image is pcr's content-addressed image store: an OCI image layout
// under <root>/images (blobs, manifests, configs, index.json with the names)
// and each layer unpacked once under <root>/layers/<chainID>, shared by every
// image and container built on it.
//
// On disk:
//
//	<root>/images/oci-layout, index.json, blobs/sha256/<hex>   the OCI image layout
//	<root>/images/.lock                                       flock: index.json writes
//	<root>/images/.gc.lock                                    flock: shared while adding, exclusive to delete
//	<root>/layers/<chain-hex>/diff/                           the unpacked layer
//	<root>/layers/<chain-hex>/{diffid,parent,size,link}       its metadata
//	<root>/layers/l/<short>  -> ../<chain-hex>/diff           short names for overlay's lowerdir
//
// Names live in index.json: one manifest descriptor per name, carrying the
// annotation io.pcr.image.name = "repo:tag" (normalized, no default registry
// inserted). An image without a name (dangling) has one descriptor without it.
//
// Anything that adds content (pull, load, import, commit, build) holds the
// gc lock shared for its whole run; rmi and prune hold it exclusively, so a
// deletion never removes a blob or layer that an unfinished add is about to
// reference, and anything named tmp-* found under the exclusive lock is the
// leftover of a killed process.
package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// ErrNotFound is wrapped by every "no such image" error.
var ErrNotFound = errors.New("image not found")

// Store is one image store under a root directory.
type Store struct {
	root      string
	imagesDir string
	blobsDir  string
	layersDir string
}

// Image is a stored image, resolved: its manifest, config and unpacked layers.
type Image struct {
	ID             digest.Digest // config digest (Docker's image ID)
	ManifestDigest digest.Digest
	Names          []string // normalized name:tag, sorted
	Manifest       ocispec.Manifest
	Config         ocispec.Image
	Layers         []Layer // base first
	Size           int64   // sum of unpacked layer sizes
	// mediaType is the manifest's own media type (OCI or Docker schema 2, as pulled).
	mediaType string
	// manifestSize is the raw manifest's length, for the index descriptor.
	manifestSize int64
}

// Layer is one unpacked layer of an image.
type Layer struct {
	ChainID, DiffID digest.Digest
	Dir             string // <root>/layers/<chain>/diff
	Link            string // <root>/layers/l/<short>
	Size            int64
}

// Open opens (creating if needed) the store under root.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("open image store: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	s := &Store{
		root:      abs,
		imagesDir: filepath.Join(abs, "images"),
		blobsDir:  filepath.Join(abs, "images", "blobs", "sha256"),
		layersDir: filepath.Join(abs, "layers"),
	}
	for _, d := range []string{s.blobsDir, filepath.Join(s.layersDir, "l")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", root, err)
		}
	}
	layout := filepath.Join(s.imagesDir, ocispec.ImageLayoutFile)
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		data := []byte(`{"imageLayoutVersion":"` + ocispec.ImageLayoutVersion + `"}`)
		if err := writeFileAtomic(layout, data, 0o644); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", root, err)
		}
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// LowerDirs are the short link paths of img's layers, top first, as
// layer.Mount's Lowers want them.
func (s *Store) LowerDirs(img *Image) []string {
	out := make([]string, 0, len(img.Layers))
	for i := len(img.Layers) - 1; i >= 0; i-- {
		out = append(out, img.Layers[i].Link)
	}
	return out
}

// flock is a held file lock; Unlock releases it (closing the fd).
type flock struct{ f *os.File }

func lockFile(path string, how int) (*flock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &flock{f: f}, nil
}

func (l *flock) Unlock() { l.f.Close() }

// lockIndex serializes index.json read-modify-write cycles.
func (s *Store) lockIndex() (*flock, error) {
	return lockFile(filepath.Join(s.imagesDir, ".lock"), unix.LOCK_EX)
}

// lockAdd is held (shared) by every operation that adds blobs or layers.
func (s *Store) lockAdd() (*flock, error) {
	return lockFile(filepath.Join(s.imagesDir, ".gc.lock"), unix.LOCK_SH)
}

// lockDelete is held (exclusive) by rmi and prune.
func (s *Store) lockDelete() (*flock, error) {
	return lockFile(filepath.Join(s.imagesDir, ".gc.lock"), unix.LOCK_EX)
}

// writeFileAtomic writes data to path through a temp file and a rename, so
// a reader sees the old or the new content, never a part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err == nil {
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
	}
	return err
}
