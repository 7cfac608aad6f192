package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// references lists the blobs and layer chains the images in idx use.
func (s *Store) references(idx *ocispec.Index) (blobs, chains map[digest.Digest]bool) {
	blobs, chains = map[digest.Digest]bool{}, map[digest.Digest]bool{}
	for _, d := range idx.Manifests {
		if blobs[d.Digest] {
			continue
		}
		blobs[d.Digest] = true
		var man ocispec.Manifest
		if err := s.readJSONBlob(d.Digest, &man); err != nil {
			continue
		}
		blobs[man.Config.Digest] = true
		for _, l := range man.Layers {
			blobs[l.Digest] = true
		}
		var cfg ocispec.Image
		if err := s.readJSONBlob(man.Config.Digest, &cfg); err != nil {
			continue
		}
		for _, c := range chainIDs(cfg.RootFS.DiffIDs) {
			chains[c] = true
		}
	}
	return blobs, chains
}

// Tag gives the image ref resolves to the name name (moved off any other image).
func (s *Store) Tag(ref, name string) error {
	n, err := NormalizeName(name)
	if err != nil {
		return err
	}
	return s.updateIndex(func(idx *ocispec.Index) error {
		m, err := s.resolveManifest(idx, ref)
		if err != nil {
			return err
		}
		for _, d := range idx.Manifests {
			if d.Digest == m {
				addToIndex(idx, d, n)
				return nil
			}
		}
		return notFound(ref)
	})
}

// ErrInUse is wrapped by the refusal to remove an image a container uses.
var ErrInUse = errors.New("image is in use")

// InUse returns the IDs of the images containers use. Remove and Prune call
// it after taking the exclusive gc lock, when no create that holds LockUse
// is between resolving its image and recording its container.
type InUse func() (map[digest.Digest]bool, error)

func (f InUse) get() (map[digest.Digest]bool, error) {
	if f == nil {
		return map[digest.Digest]bool{}, nil
	}
	used, err := f()
	if err != nil {
		return nil, fmt.Errorf("find the images containers use: %w", err)
	}
	return used, nil
}

// Remove removes ref as `docker rmi` does and returns its report lines
// ("Untagged: name", "Deleted: sha256:…"). A name of an image that has
// other names is only untagged. An image a container uses is refused unless
// force; forced, its names go but the image and its layers stay, dangling,
// until no container uses it and a prune removes it. A broken image (a blob
// or layer missing) is removed as far as it exists.
func (s *Store) Remove(ref string, force bool, inUse InUse) ([]string, error) {
	gc, err := s.lockDelete()
	if err != nil {
		return nil, err
	}
	defer gc.Unlock()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	m, err := s.resolveManifest(idx, ref)
	if err != nil {
		return nil, err
	}
	img := s.loadPartial(idx, m)
	byName := ""
	if r, err := ParseReference(ref); err == nil && r.Digest == "" {
		for _, n := range img.Names {
			if n == r.String() {
				byName = n
			}
		}
	}
	if byName != "" && len(img.Names) > 1 {
		if err := s.untag(byName); err != nil {
			return nil, err
		}
		return []string{"Untagged: " + byName}, nil
	}
	if byName == "" && len(img.Names) > 1 && !force {
		return nil, fmt.Errorf("unable to delete %s (must be forced): image is referenced in %d names: %s",
			shortID(imageID(img)), len(img.Names), strings.Join(img.Names, ", "))
	}
	used, err := inUse.get()
	if err != nil {
		return nil, err
	}
	inUseNow := img.ID != "" && used[img.ID]
	if inUseNow && !force {
		return nil, fmt.Errorf("unable to remove image %s (%s): %w by a container; remove the container first, or use -f to untag it (the image is kept until no container uses it)",
			ref, shortID(img.ID), ErrInUse)
	}
	var lines []string
	for _, n := range img.Names {
		if err := s.untag(n); err != nil {
			return lines, err
		}
		lines = append(lines, "Untagged: "+n)
	}
	if inUseNow {
		lines = append(lines, fmt.Sprintf("Kept: %s (in use by a container; `pcr image prune` removes it once unused)", img.ID))
		return lines, nil
	}
	deleted, _, err := s.deleteImages([]*Image{img})
	for _, d := range deleted {
		lines = append(lines, "Deleted: "+d.String())
	}
	return lines, err
}

// imageID is img's ID, or its manifest digest when a broken image's
// manifest could not be read to learn it.
func imageID(img *Image) digest.Digest {
	if img.ID != "" {
		return img.ID
	}
	return img.ManifestDigest
}

func (s *Store) untag(name string) error {
	return s.updateIndex(func(idx *ocispec.Index) error {
		untagIn(idx, name)
		return nil
	})
}

// deleteImages drops imgs from the index, then removes their layers and
// blobs that no remaining image uses. It returns the image IDs and layer
// chain IDs deleted and the bytes freed. The caller holds the gc lock.
func (s *Store) deleteImages(imgs []*Image) ([]digest.Digest, int64, error) {
	var idx *ocispec.Index
	err := s.updateIndex(func(i *ocispec.Index) error {
		for _, img := range imgs {
			removeFromIndex(i, img.ManifestDigest)
		}
		idx = i
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	blobs, chains := s.references(idx)
	var deleted []digest.Digest
	var freed int64
	for _, img := range imgs {
		deleted = append(deleted, imageID(img))
		for i := len(img.Layers) - 1; i >= 0; i-- {
			l := img.Layers[i]
			if chains[l.ChainID] {
				continue
			}
			if _, err := os.Stat(s.layerDir(l.ChainID)); err != nil {
				continue // another image in this batch shared it
			}
			if err := s.removeLayer(l.ChainID); err != nil {
				return deleted, freed, err
			}
			deleted = append(deleted, l.ChainID)
			freed += l.Size
		}
		for _, b := range append([]digest.Digest{img.ManifestDigest, img.ID}, descDigests(img.Manifest.Layers)...) {
			if b == "" || blobs[b] {
				continue // unknown (a broken image's), or another image's
			}
			if fi, err := os.Stat(s.blobPath(b)); err == nil {
				if os.Remove(s.blobPath(b)) == nil {
					freed += fi.Size()
				}
			}
		}
	}
	return deleted, freed, nil
}

func descDigests(ds []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out
}

// Prune removes unused images, then whatever no image references:
// unpacked layers, blobs, and the leftovers of operations that failed or
// were killed. Without all it removes, as Docker's prune does, the dangling
// images: untagged ones no other image was built on — and then the untagged
// parents that leaves childless, so a tagged image's intermediate build
// images stay while an untagged build goes whole. With all it removes every
// image no container uses. Broken images count like the others.
func (s *Store) Prune(all bool, inUse InUse) ([]digest.Digest, int64, error) {
	gc, err := s.lockDelete()
	if err != nil {
		return nil, 0, err
	}
	defer gc.Unlock()
	used, err := inUse.get()
	if err != nil {
		return nil, 0, err
	}
	imgs, err := s.listAll()
	if err != nil {
		return nil, 0, err
	}
	victims := pruneVictims(imgs, all, used)
	var deleted []digest.Digest
	var freed int64
	if len(victims) > 0 {
		d, f, err := s.deleteImages(victims)
		for _, x := range d {
			if isImageID(x, victims) {
				deleted = append(deleted, x)
			}
		}
		freed += f
		if err != nil {
			return deleted, freed, err
		}
	}
	f, err := s.collectGarbage()
	return deleted, freed + f, err
}

// pruneVictims picks the images Prune removes.
func pruneVictims(imgs []*Image, all bool, used map[digest.Digest]bool) []*Image {
	victim := map[*Image]bool{}
	kids := descendants(imgs)
	for changed := true; changed; {
		changed = false
		for _, img := range imgs {
			if victim[img] || (img.ID != "" && used[img.ID]) || (!all && len(img.Names) > 0) {
				continue
			}
			keptChild := false
			for _, c := range kids[img.ID] {
				keptChild = keptChild || !victim[c]
			}
			if all || !keptChild {
				victim[img] = true
				changed = true
			}
		}
	}
	var out []*Image
	for _, img := range imgs {
		if victim[img] {
			out = append(out, img)
		}
	}
	return out
}

func isImageID(d digest.Digest, imgs []*Image) bool {
	for _, i := range imgs {
		if imageID(i) == d {
			return true
		}
	}
	return false
}

// collectGarbage removes unreferenced layers and blobs and leftovers of
// unfinished writes (isLeftover).
// The caller holds the gc lock exclusively, so no add is in flight.
func (s *Store) collectGarbage() (int64, error) {
	idx, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	blobs, chains := s.references(idx)
	var freed int64
	var errs []error
	entries, _ := os.ReadDir(s.layersDir)
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "l":
		case strings.HasPrefix(name, "tmp-"):
			if err := os.RemoveAll(filepath.Join(s.layersDir, name)); err != nil {
				errs = append(errs, err)
			}
		default:
			chain := digest.NewDigestFromEncoded(digest.SHA256, name)
			if chain.Validate() != nil || chains[chain] {
				continue
			}
			if l, err := s.layer(chain); err == nil {
				freed += l.Size
			}
			if err := s.removeLayer(chain); err != nil {
				errs = append(errs, err)
			}
		}
	}
	links, _ := os.ReadDir(filepath.Join(s.layersDir, "l"))
	for _, e := range links {
		p := filepath.Join(s.layersDir, "l", e.Name())
		if _, err := os.Stat(p); err != nil || strings.HasPrefix(e.Name(), "tmp-") {
			os.Remove(p) // dangling link or a link's leftover temp name
		}
	}
	// A tag writes index.json's temp file under the index lock alone, not
	// the gc lock: hold it too, so its temp file is not taken for a leftover.
	il, err := s.lockIndex()
	if err != nil {
		return freed, err
	}
	defer il.Unlock()
	for _, dir := range []string{s.blobsDir, s.imagesDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name := e.Name()
			p := filepath.Join(dir, name)
			if isLeftover(name) {
				if err := os.RemoveAll(p); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			if dir != s.blobsDir {
				continue
			}
			d := digest.NewDigestFromEncoded(digest.SHA256, name)
			if d.Validate() == nil && !blobs[d] {
				if fi, err := e.Info(); err == nil {
					freed += fi.Size()
				}
				if err := os.Remove(p); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return freed, fmt.Errorf("prune: %w", err)
	}
	return freed, nil
}

// isLeftover tells the temp names of unfinished writes: tmp-* (blobs, load
// dirs, layers) and atomicfile's .<name>.tmp-* (index.json, small blobs).
func isLeftover(name string) bool {
	return strings.HasPrefix(name, "tmp-") || (strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-"))
}

// shortID is Docker's 12-hex-character image ID.
func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// ShortID is the 12-hex-character form of an image ID, as `pcr images` shows it.
func ShortID(d digest.Digest) string { return shortID(d) }
