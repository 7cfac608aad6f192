package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pcr/internal/atomicfile"
)

// AnnotationName carries one normalized "repo:tag" on an index.json manifest
// descriptor; an image with several names has one descriptor per name.
const AnnotationName = "io.pcr.image.name"

func (s *Store) indexPath() string { return filepath.Join(s.imagesDir, ocispec.ImageIndexFile) }

// readIndex reads index.json; a store with none yet has an empty index.
func (s *Store) readIndex() (*ocispec.Index, error) {
	idx := &ocispec.Index{}
	data, err := os.ReadFile(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		idx.SchemaVersion = 2
		idx.MediaType = ocispec.MediaTypeImageIndex
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("read image index %s: %w", s.indexPath(), err)
	}
	return idx, nil
}

// updateIndex runs change on index.json under the index lock and writes the
// result through a temp file and a rename.
func (s *Store) updateIndex(change func(idx *ocispec.Index) error) error {
	l, err := s.lockIndex()
	if err != nil {
		return err
	}
	defer l.Unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := change(idx); err != nil {
		return err
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	if err := atomicfile.WriteSync(s.indexPath(), data, 0o644); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}

// nameOf is the descriptor's image name, "" for a dangling image.
func nameOf(d ocispec.Descriptor) string { return d.Annotations[AnnotationName] }

// untagIn removes name from whichever image carries it. An image that loses
// its last name stays, dangling, as one descriptor without a name.
func untagIn(idx *ocispec.Index, name string) {
	var out []ocispec.Descriptor
	for i, d := range idx.Manifests {
		if nameOf(d) != name {
			out = append(out, d)
			continue
		}
		if !hasDescriptorFor(idx.Manifests, d.Digest, i) && !hasDescriptorFor(out, d.Digest, -1) {
			d.Annotations = without(d.Annotations, AnnotationName)
			out = append(out, d)
		}
	}
	idx.Manifests = out
}

// hasDescriptorFor tells whether another descriptor (not index skip) points at manifest m.
func hasDescriptorFor(ds []ocispec.Descriptor, m digest.Digest, skip int) bool {
	for i, d := range ds {
		if i != skip && d.Digest == m {
			return true
		}
	}
	return false
}

// addToIndex records manifest desc under name (moving the name off any other
// image), or as a dangling image when name is empty and it has no name yet.
func addToIndex(idx *ocispec.Index, desc ocispec.Descriptor, name string) {
	desc.Annotations = without(desc.Annotations, AnnotationName)
	if name == "" {
		if !hasDescriptorFor(idx.Manifests, desc.Digest, -1) {
			idx.Manifests = append(idx.Manifests, desc)
		}
		return
	}
	untagIn(idx, name)
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if d.Digest == desc.Digest && nameOf(d) == "" {
			continue // the dangling entry becomes the named one
		}
		out = append(out, d)
	}
	desc.Annotations = map[string]string{AnnotationName: name}
	idx.Manifests = append(out, desc)
}

// removeFromIndex drops every descriptor of manifest m.
func removeFromIndex(idx *ocispec.Index, m digest.Digest) {
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if d.Digest != m {
			out = append(out, d)
		}
	}
	idx.Manifests = out
}

func without(m map[string]string, key string) map[string]string {
	if _, ok := m[key]; !ok {
		return m
	}
	out := map[string]string{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
