package image

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Save writes refs as one tar that is both an OCI image layout (oci-layout,
// index.json, blobs/sha256) and a docker-save archive (manifest.json over the
// same blobs), so `pcr load` and `docker load` both read it.
func (s *Store) Save(w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: no image given")
	}
	type saved struct {
		img   *Image
		names []string
	}
	var imgs []saved
	for _, ref := range refs {
		img, err := s.Resolve(ref)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		// A name saves that name; an ID or digest saves every name the image has.
		names := img.Names
		if r, err := ParseReference(ref); err == nil && r.Digest == "" {
			for _, n := range img.Names {
				if n == r.String() {
					names = []string{n}
				}
			}
		}
		imgs = append(imgs, saved{img, names})
	}
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	writeFile := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	written := map[digest.Digest]bool{}
	writeBlob := func(d digest.Digest) error {
		if written[d] {
			return nil
		}
		written[d] = true
		f, err := s.openBlob(d)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: "blobs/sha256/" + d.Encoded(), Mode: 0o644, Size: fi.Size(), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	var docker []dockerManifestEntry
	for _, sv := range imgs {
		img := sv.img
		blobs := append([]digest.Digest{img.ManifestDigest, img.ID}, descDigests(img.Manifest.Layers)...)
		for _, b := range blobs {
			if err := writeBlob(b); err != nil {
				return fmt.Errorf("save %s: %w", shortID(img.ID), err)
			}
		}
		desc := ocispec.Descriptor{MediaType: img.mediaType, Digest: img.ManifestDigest, Size: img.manifestSize}
		if desc.MediaType == "" {
			desc.MediaType = ocispec.MediaTypeImageManifest
		}
		if desc.Size == 0 {
			if fi, err := os.Stat(s.blobPath(img.ManifestDigest)); err == nil {
				desc.Size = fi.Size()
			}
		}
		entry := dockerManifestEntry{Config: "blobs/sha256/" + img.ID.Encoded(), RepoTags: sv.names}
		for _, l := range img.Manifest.Layers {
			entry.Layers = append(entry.Layers, "blobs/sha256/"+l.Digest.Encoded())
		}
		docker = append(docker, entry)
		if len(sv.names) == 0 {
			idx.Manifests = append(idx.Manifests, desc)
		}
		for _, n := range sv.names {
			d := desc
			_, tag := SplitName(n)
			d.Annotations = map[string]string{AnnotationName: n, "io.containerd.image.name": n, ocispec.AnnotationRefName: tag}
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	idxData, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	dockerData, err := json.Marshal(docker)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	layout := []byte(`{"imageLayoutVersion":"` + ocispec.ImageLayoutVersion + `"}`)
	for _, f := range []struct {
		name string
		data []byte
	}{{ocispec.ImageLayoutFile, layout}, {ocispec.ImageIndexFile, idxData}, {"manifest.json", dockerData}} {
		if err := writeFile(f.name, f.data); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}
