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
// gc lock shared for its whole run, and so does a user of an image that no
// record names yet (LockUse: a create until its container record is
// written, a build for its whole run); rmi and prune hold it exclusively and
// only then read which images containers use. So a deletion never removes a
// blob or layer that an unfinished add or user is about to reference, and
// what no image references under the exclusive lock — a failed add's
// content, tmp-* and .*.tmp-* temp names — is a leftover prune may remove.
package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"pcr/internal/atomicfile"
)

// ErrNotFound is wrapped by every "no such image" error.
var ErrNotFound = errors.New("image not found")

// Store is one image store under a root directory.
type Store struct {
	root      string
	imagesDir string
	blobsDir  string
	layersDir string

	warnMu   sync.Mutex
	warnings io.Writer // where List reports the images it skips; nil: nowhere
	warned   map[digest.Digest]bool
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
	// broken says why the image could not be loaded whole (List skips it).
	broken error
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
		warnings:  os.Stderr,
	}
	for _, d := range []string{s.blobsDir, filepath.Join(s.layersDir, "l")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", root, err)
		}
	}
	layout := filepath.Join(s.imagesDir, ocispec.ImageLayoutFile)
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		data := []byte(`{"imageLayoutVersion":"` + ocispec.ImageLayoutVersion + `"}`)
		if err := atomicfile.WriteSync(layout, data, 0o644); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", root, err)
		}
	}
	return s, nil
}

// SetWarnings sends the store's warnings (a broken image List skips) to w
// instead of stderr; nil drops them.
func (s *Store) SetWarnings(w io.Writer) {
	s.warnMu.Lock()
	defer s.warnMu.Unlock()
	s.warnings = w
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

// LockUse keeps rmi and prune out until unlock is called: it holds the gc
// lock shared, as an add does. A user of an image that is not yet recorded
// anywhere prune can see holds it: the engine's create from resolving the
// image until the container record names it, a build for its whole run (its
// intermediate images are dangling and its RUN steps mount their layers).
// Shared holders never wait for each other, so an add under LockUse in the
// same process is fine; an rmi or prune there would wait for itself.
func (s *Store) LockUse() (unlock func(), err error) {
	l, err := s.lockAdd()
	if err != nil {
		return nil, fmt.Errorf("lock image store for use: %w", err)
	}
	var once sync.Once
	return func() { once.Do(l.Unlock) }, nil
}

// lockDelete is held (exclusive) by rmi and prune.
func (s *Store) lockDelete() (*flock, error) {
	return lockFile(filepath.Join(s.imagesDir, ".gc.lock"), unix.LOCK_EX)
}
