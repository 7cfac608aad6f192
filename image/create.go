package image

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pcr/image/layer"
)

// NewImage is one image to create from a parent and an optional new layer
// (pcr commit, a build step, pcr import).
type NewImage struct {
	Parent  *Image              // nil: FROM scratch
	Layer   io.Reader           // an uncompressed layer tar, or nil for a config-only step
	Config  ocispec.ImageConfig // the new image's runtime config (replaces the parent's)
	History ocispec.History     // appended to the parent's history
	Author  string
	Comment string
	Name    string // optional "name[:tag]" to tag the result with
}

// CreateImage stores a new image: the layer tar is gzipped into a blob and
// unpacked on the parent's layer chain, then the config and manifest are
// written and the image is named. On failure nothing of it stays.
func (s *Store) CreateImage(n NewImage) (img *Image, err error) {
	name := ""
	if n.Name != "" {
		if name, err = NormalizeName(n.Name); err != nil {
			return nil, err
		}
	}
	a, err := s.beginAdd()
	if err != nil {
		return nil, err
	}
	defer a.finish()

	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}}
	var layers []Layer
	var descs []ocispec.Descriptor
	if p := n.Parent; p != nil {
		cfg.Platform = p.Config.Platform
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, p.Config.RootFS.DiffIDs...)
		cfg.History = append(cfg.History, p.Config.History...)
		layers = append(layers, p.Layers...)
		descs = append(descs, p.Manifest.Layers...)
	}
	if n.Layer != nil {
		desc, diffID, err := a.putLayerTar(n.Layer)
		if err != nil {
			return nil, err
		}
		f, err := s.openBlob(desc.Digest)
		if err != nil {
			return nil, err
		}
		l, err := a.unpack(f, layers, diffID)
		f.Close()
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
		descs = append(descs, desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
	}
	now := time.Now().UTC()
	h := n.History
	if h.Created == nil {
		h.Created = &now
	}
	if h.Author == "" {
		h.Author = n.Author
	}
	if h.Comment == "" {
		h.Comment = n.Comment
	}
	h.EmptyLayer = n.Layer == nil
	cfg.Created = &now
	cfg.Author = n.Author
	cfg.Config = n.Config
	cfg.RootFS.Type = "layers"
	cfg.History = append(cfg.History, h)
	if cfg.RootFS.DiffIDs == nil {
		cfg.RootFS.DiffIDs = []digest.Digest{}
	}
	m, err := a.writeImage(cfg, descs, name)
	if err != nil {
		return nil, err
	}
	return s.Resolve(m.String())
}

// Import turns a rootfs tarball (tar, tar.gz or tar.zst) into a one-layer
// image named name (optional), with changes as its runtime config.
func (s *Store) Import(r io.Reader, name string, changes ocispec.ImageConfig) (*Image, error) {
	plain, release, err := layer.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer release()
	img, err := s.CreateImage(NewImage{
		Layer:   plain,
		Config:  changes,
		History: ocispec.History{CreatedBy: "pcr import", Comment: "imported from a rootfs tarball"},
		Name:    name,
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return img, nil
}

// putLayerTar gzips an uncompressed layer tar into a blob, hashing the
// plain bytes on the way for the diff ID.
func (a *adding) putLayerTar(r io.Reader) (ocispec.Descriptor, digest.Digest, error) {
	pr, pw := io.Pipe()
	plain := digest.SHA256.Digester()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, io.TeeReader(r, plain.Hash()))
		if err != nil {
			err = fmt.Errorf("read layer tar: %w", err)
		}
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	d, size, err := a.putBlob(pr, "", -1)
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if putBlob gave up early
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: size}, plain.Digest(), nil
}

// writeImage stores config and an OCI manifest over descs, records the
// manifest in the index under name, and returns the manifest digest.
func (a *adding) writeImage(cfg ocispec.Image, descs []ocispec.Descriptor, name string) (digest.Digest, error) {
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("write image config: %w", err)
	}
	cfgDigest, err := a.putBlobBytes(cfgData)
	if err != nil {
		return "", err
	}
	if descs == nil {
		descs = []ocispec.Descriptor{}
	}
	man := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgData))},
		Layers:    descs,
	}
	man.SchemaVersion = 2
	manData, err := json.Marshal(man)
	if err != nil {
		return "", fmt.Errorf("write image manifest: %w", err)
	}
	return a.record(manData, ocispec.MediaTypeImageManifest, name)
}

// record stores a raw manifest and names it in the index.
func (a *adding) record(manData []byte, mediaType, name string) (digest.Digest, error) {
	m, err := a.putBlobBytes(manData)
	if err != nil {
		return "", err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: m, Size: int64(len(manData))}
	err = a.s.updateIndex(func(idx *ocispec.Index) error {
		addToIndex(idx, desc, name)
		return nil
	})
	return m, err
}
