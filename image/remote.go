package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pullJobs is how many layer blobs download at once.
const pullJobs = 3

// registryRef turns a reference into go-containerregistry's form. Which
// registry a host-less name means is go-containerregistry's default; the
// name stored in pcr stays the user's, with no host added. Loopback
// registries (127.0.0.1, localhost) are spoken to over plain http.
func registryRef(r Reference) (name.Reference, error) {
	ref, err := name.ParseReference(r.String())
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", r.String(), err)
	}
	return ref, nil
}

func remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
	}
}

// Pull fetches ref from its registry into the store: every blob checked
// against its digest, every layer against its diff ID, the manifest kept
// byte for byte (so its digest is the registry's). A pull cut short leaves
// only what `pcr image prune` removes; nothing half-made is ever visible.
func (s *Store) Pull(ctx context.Context, ref string, p Progress) (img *Image, err error) {
	p = progressOrNone(p)
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	gref, err := registryRef(r)
	if err != nil {
		return nil, err
	}
	rimg, err := remote.Image(gref, remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	manData, err := rimg.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("pull %s: manifest: %w", r, err)
	}
	mt, err := rimg.MediaType()
	if err != nil {
		return nil, fmt.Errorf("pull %s: manifest: %w", r, err)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(manData, &man); err != nil || man.Config.Digest == "" {
		return nil, fmt.Errorf("pull %s: manifest of type %s is not an image manifest", r, mt)
	}
	a, err := s.beginAdd()
	if err != nil {
		return nil, err
	}
	defer a.finish()

	cfgData, err := rimg.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", r, err)
	}
	if got := digest.FromBytes(cfgData); got != man.Config.Digest {
		return nil, fmt.Errorf("pull %s: config %s: digest mismatch: content is %s", r, man.Config.Digest, got)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgData, &cfg); err != nil {
		return nil, fmt.Errorf("pull %s: config: %w", r, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(man.Layers) {
		return nil, fmt.Errorf("pull %s: %d diff IDs for %d layers", r, len(cfg.RootFS.DiffIDs), len(man.Layers))
	}
	if err := a.fetchLayers(rimg, man.Layers, p); err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	if _, err := a.putBlobBytes(cfgData); err != nil {
		return nil, err
	}
	if err := a.unpackAll(man.Layers, cfg.RootFS.DiffIDs); err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	tagged := ""
	if r.Tag != "" {
		tagged = r.Repository + ":" + r.Tag
	}
	m, err := a.record(manData, string(mt), tagged)
	if err != nil {
		return nil, err
	}
	return s.Resolve(m.String())
}

// fetchLayers downloads the layer blobs the store lacks, a few at a time.
func (a *adding) fetchLayers(rimg v1.Image, descs []ocispec.Descriptor, p Progress) error {
	sem := make(chan struct{}, pullJobs)
	var wg sync.WaitGroup
	errs := make([]error, len(descs))
	for i, d := range descs {
		if a.s.hasBlob(d.Digest) {
			p.Task("Pulling", d.Digest, d.Size).Done("exists", nil)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = a.fetchLayer(rimg, d, p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (a *adding) fetchLayer(rimg v1.Image, d ocispec.Descriptor, p Progress) error {
	h, err := v1.NewHash(d.Digest.String())
	if err != nil {
		return fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	t := p.Task("Pulling", d.Digest, d.Size)
	l, err := rimg.LayerByDigest(h)
	var rc io.ReadCloser
	if err == nil {
		rc, err = l.Compressed()
	}
	if err == nil {
		_, _, err = a.putBlob(t.Reader(rc), d.Digest, d.Size)
		rc.Close()
	}
	t.Done("done", err)
	if err != nil {
		return fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	return nil
}

// Push uploads the image src resolves to as dst (src itself when dst is
// empty). The stored manifest goes up byte for byte, so the registry's
// digest equals the store's.
func (s *Store) Push(ctx context.Context, src, dst string, p Progress) error {
	p = progressOrNone(p)
	img, err := s.Resolve(src)
	if err != nil {
		return err
	}
	if dst == "" {
		dst = src
	}
	r, err := ParseReference(dst)
	if err != nil {
		return err
	}
	gref, err := registryRef(r)
	if err != nil {
		return err
	}
	manData, err := s.readBlob(img.ManifestDigest)
	if err != nil {
		return err
	}
	cfgData, err := s.readBlob(img.ID)
	if err != nil {
		return err
	}
	core := &pushImage{s: s, img: img, manifest: manData, config: cfgData, p: p}
	rimg, err := partial.CompressedToImage(core)
	if err != nil {
		return fmt.Errorf("push %s: %w", r, err)
	}
	if err := remote.Write(gref, rimg, remoteOptions(ctx)...); err != nil {
		return fmt.Errorf("push %s: %w", r, err)
	}
	p.Task("Pushed", img.ManifestDigest, int64(len(manData))).Done("done", nil)
	return nil
}

// pushImage is a stored image as go-containerregistry's CompressedImageCore.
type pushImage struct {
	s                *Store
	img              *Image
	manifest, config []byte
	p                Progress
}

func (i *pushImage) RawConfigFile() ([]byte, error) { return i.config, nil }
func (i *pushImage) RawManifest() ([]byte, error)   { return i.manifest, nil }

func (i *pushImage) MediaType() (types.MediaType, error) {
	if i.img.mediaType != "" {
		return types.MediaType(i.img.mediaType), nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *pushImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	d := digest.Digest(h.String())
	if d == i.img.ID {
		return &pushLayer{i: i, desc: i.img.Manifest.Config}, nil
	}
	for _, l := range i.img.Manifest.Layers {
		if l.Digest == d {
			return &pushLayer{i: i, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("image %s has no blob %s", shortID(i.img.ID), d)
}

type pushLayer struct {
	i    *pushImage
	desc ocispec.Descriptor
}

func (l *pushLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.desc.Digest.String()) }
func (l *pushLayer) Size() (int64, error)     { return l.desc.Size, nil }
func (l *pushLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.desc.MediaType), nil
}

func (l *pushLayer) Compressed() (io.ReadCloser, error) {
	f, err := l.i.s.openBlob(l.desc.Digest)
	if err != nil {
		return nil, err
	}
	t := l.i.p.Task("Pushing", l.desc.Digest, l.desc.Size)
	return &taskReader{Reader: t.Reader(f), f: f, t: t}, nil
}

// taskReader ends its progress task when the upload closes it.
type taskReader struct {
	io.Reader
	f    io.Closer
	t    Task
	once sync.Once
}

func (r *taskReader) Close() error {
	r.once.Do(func() { r.t.Done("done", nil) })
	return r.f.Close()
}
