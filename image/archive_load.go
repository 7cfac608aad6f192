package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pcr/image/layer"
)

// Docker's media types, as docker save, docker push and registries use them.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// dockerManifestEntry is one image in a docker-save archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// loadArchive is an unpacked archive: blobs already verified into the
// store, small files in memory, other files in a temp dir.
type loadArchive struct {
	blobs map[string]digest.Digest // archive path -> stored blob
	small map[string][]byte
	files map[string]string // archive path -> temp file
	links map[string]string // archive path -> archive path it links to
}

// Load reads an OCI image layout or a docker-save archive (plain, gzip or
// zstd) into the store. Every blob is checked against its digest while it
// is copied in, and every layer against its diff ID while it is unpacked; on
// any failure nothing the load added stays.
func (s *Store) Load(r io.Reader, p Progress) (imgs []*Image, err error) {
	p = progressOrNone(p)
	plain, release, err := layer.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer release()
	a, err := s.beginAdd()
	if err != nil {
		return nil, err
	}
	defer a.finish()
	tmp, err := os.MkdirTemp(s.imagesDir, "tmp-load-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.RemoveAll(tmp)

	arc, err := a.readArchive(plain, tmp, p)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var manifests []loadedManifest
	switch {
	case arc.small[ocispec.ImageIndexFile] != nil:
		manifests, err = a.ociManifests(arc)
	case arc.small["manifest.json"] != nil:
		manifests, err = a.dockerManifests(arc)
	default:
		err = errors.New("not an OCI image layout or docker save archive (no index.json or manifest.json)")
	}
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	// Every image is verified and unpacked before any is named, and all are
	// named in one index write: a load that fails part way names nothing, so
	// finish can take back all it added and no earlier name has moved.
	ready := make([]readyManifest, 0, len(manifests))
	for _, m := range manifests {
		r, err := a.unpackManifest(m)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		ready = append(ready, r)
	}
	if err := a.recordAll(ready); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	for _, r := range ready {
		img, err := s.Resolve(r.digest.String())
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// readArchive walks the tar once, streaming blobs straight into the store.
func (a *adding) readArchive(r io.Reader, tmp string, p Progress) (*loadArchive, error) {
	arc := &loadArchive{blobs: map[string]digest.Digest{}, small: map[string][]byte{}, files: map[string]string{}, links: map[string]string{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return arc, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		name, err := archiveName(hdr.Name)
		if err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
		case tar.TypeSymlink, tar.TypeLink:
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink && !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			if arc.links[name], err = archiveName(target); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			if err := a.readArchiveFile(arc, tr, hdr, name, tmp, p); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("archive entry %q: unexpected type %q", hdr.Name, string(hdr.Typeflag))
		}
	}
}

func (a *adding) readArchiveFile(arc *loadArchive, tr io.Reader, hdr *tar.Header, name, tmp string, p Progress) error {
	if dir, hex := path.Split(name); dir == "blobs/sha256/" {
		want := digest.NewDigestFromEncoded(digest.SHA256, hex)
		if err := want.Validate(); err != nil {
			return fmt.Errorf("archive entry %q: not a sha256 blob name", hdr.Name)
		}
		t := p.Task("Loading", want, hdr.Size)
		d, _, err := a.putBlob(t.Reader(tr), want, hdr.Size)
		t.Done("done", err)
		if err != nil {
			return err
		}
		arc.blobs[name] = d
		return nil
	}
	if hdr.Size <= maxMetadataBlob && (strings.HasSuffix(name, ".json") || name == ocispec.ImageLayoutFile || name == "repositories") {
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("read archive entry %q: %w", hdr.Name, err)
		}
		arc.small[name] = data
		return nil
	}
	f, err := os.CreateTemp(tmp, "file-")
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, tr); err != nil {
		return fmt.Errorf("read archive entry %q: %w", hdr.Name, err)
	}
	arc.files[name] = f.Name()
	return nil
}

// archiveName cleans an archive path; one that leaves the archive is refused.
func archiveName(n string) (string, error) {
	c := path.Clean("/" + n)[1:]
	if path.IsAbs(n) || c == "" || strings.HasPrefix(path.Clean(n), "../") || path.Clean(n) == ".." {
		return "", fmt.Errorf("archive entry %q: path leaves the archive", n)
	}
	return c, nil
}

// resolve follows links inside the archive.
func (arc *loadArchive) resolve(name string) string {
	for i := 0; i < 16; i++ {
		t, ok := arc.links[name]
		if !ok {
			break
		}
		name = t
	}
	return name
}

// open opens an archive file, wherever readArchive put it.
func (a *adding) open(arc *loadArchive, name string) (io.ReadCloser, digest.Digest, error) {
	n, err := archiveName(name)
	if err != nil {
		return nil, "", err
	}
	n = arc.resolve(n)
	if d, ok := arc.blobs[n]; ok {
		f, err := a.s.openBlob(d)
		return f, d, err
	}
	if data, ok := arc.small[n]; ok {
		return io.NopCloser(strings.NewReader(string(data))), digest.FromBytes(data), nil
	}
	if p, ok := arc.files[n]; ok {
		f, err := os.Open(p)
		return f, "", err
	}
	return nil, "", fmt.Errorf("archive has no %q", name)
}

func (a *adding) readSmall(arc *loadArchive, name string) ([]byte, digest.Digest, error) {
	rc, d, err := a.open(arc, name)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMetadataBlob+1))
	if err == nil && len(data) > maxMetadataBlob {
		err = fmt.Errorf("%s: larger than %d bytes", name, maxMetadataBlob)
	}
	return data, d, err
}

// loadedManifest is a manifest now in the store, with the names to give it.
type loadedManifest struct {
	digest    digest.Digest
	mediaType string
	names     []string
}

// ociManifests lists the images of an OCI layout's index.json, picking this
// machine's platform out of nested indexes.
func (a *adding) ociManifests(arc *loadArchive) ([]loadedManifest, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(arc.small[ocispec.ImageIndexFile], &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	// docker save writes both files; manifest.json's RepoTags name images whose
	// index.json entries carry no usable name.
	tagsByConfig := map[digest.Digest][]string{}
	if data := arc.small["manifest.json"]; data != nil {
		var entries []dockerManifestEntry
		if json.Unmarshal(data, &entries) == nil {
			for _, e := range entries {
				if _, d, err := a.readSmall(arc, e.Config); err == nil {
					tagsByConfig[d] = append(tagsByConfig[d], e.RepoTags...)
				}
			}
		}
	}
	byDigest := map[digest.Digest]*loadedManifest{}
	var out []loadedManifest
	for _, d := range idx.Manifests {
		m, mt, err := a.s.platformManifest(d.Digest, d.MediaType, 0)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, key := range []string{AnnotationName, "io.containerd.image.name", ocispec.AnnotationRefName} {
			v := d.Annotations[key]
			if v == "" || (key == ocispec.AnnotationRefName && !strings.Contains(v, ":")) {
				continue // a bare ref.name is only a tag, with no repository to hang it on
			}
			n, err := NormalizeName(v)
			if err != nil {
				return nil, fmt.Errorf("index.json: image name: %w", err)
			}
			names = append(names, n)
			break
		}
		if len(names) == 0 {
			if id, err := a.s.configDigest(m); err == nil {
				for _, t := range tagsByConfig[id] {
					n, err := NormalizeName(t)
					if err != nil {
						return nil, fmt.Errorf("manifest.json: %w", err)
					}
					names = append(names, n)
				}
			}
		}
		if lm, ok := byDigest[m]; ok {
			lm.names = append(lm.names, names...)
			continue
		}
		out = append(out, loadedManifest{digest: m, mediaType: mt, names: names})
		byDigest[m] = &out[len(out)-1]
	}
	for i := range out {
		out[i].names = byDigest[out[i].digest].names
	}
	return out, nil
}

// platformManifest follows an image index down to the manifest for
// linux/GOARCH (or the only one it has).
func (s *Store) platformManifest(d digest.Digest, mediaType string, depth int) (digest.Digest, string, error) {
	if mediaType != ocispec.MediaTypeImageIndex && mediaType != mediaTypeDockerManifestList {
		return d, mediaType, nil
	}
	if depth > 4 {
		return "", "", fmt.Errorf("index %s: nested too deep", d)
	}
	var idx ocispec.Index
	if err := s.readJSONBlob(d, &idx); err != nil {
		return "", "", err
	}
	for _, m := range idx.Manifests {
		if len(idx.Manifests) == 1 || (m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
			return s.platformManifest(m.Digest, m.MediaType, depth+1)
		}
	}
	return "", "", fmt.Errorf("index %s: no image for linux/%s", d, runtime.GOARCH)
}

// dockerManifests turns a docker-save manifest.json (the classic layout,
// <id>/layer.tar, or blobs/sha256) into stored OCI manifests.
func (a *adding) dockerManifests(arc *loadArchive) ([]loadedManifest, error) {
	var entries []dockerManifestEntry
	if err := json.Unmarshal(arc.small["manifest.json"], &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []loadedManifest
	for _, e := range entries {
		cfgData, _, err := a.readSmall(arc, e.Config)
		if err != nil {
			return nil, fmt.Errorf("manifest.json: config: %w", err)
		}
		cfgDigest := digest.FromBytes(cfgData)
		// The classic layout names the config <hex>.json after its digest.
		if hex := strings.TrimSuffix(path.Base(e.Config), ".json"); len(hex) == 64 && hex != cfgDigest.Encoded() {
			return nil, fmt.Errorf("config %s: digest mismatch: content is %s", e.Config, cfgDigest)
		}
		var cfg ocispec.Image
		if err := json.Unmarshal(cfgData, &cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", e.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
			return nil, fmt.Errorf("config %s: %d diff IDs for %d layers", e.Config, len(cfg.RootFS.DiffIDs), len(e.Layers))
		}
		descs := make([]ocispec.Descriptor, len(e.Layers))
		for i, lp := range e.Layers {
			if descs[i], err = a.dockerLayerBlob(arc, lp, cfg.RootFS.DiffIDs[i]); err != nil {
				return nil, err
			}
		}
		if _, err := a.putBlobBytes(cfgData); err != nil {
			return nil, err
		}
		man := ocispec.Manifest{
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgData))},
			Layers:    descs,
		}
		man.SchemaVersion = 2
		manData, err := json.Marshal(man)
		if err != nil {
			return nil, err
		}
		m, err := a.putBlobBytes(manData)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, t := range e.RepoTags {
			n, err := NormalizeName(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			names = append(names, n)
		}
		out = append(out, loadedManifest{digest: m, mediaType: ocispec.MediaTypeImageManifest, names: names})
	}
	return out, nil
}

// dockerLayerBlob stores one docker-save layer as a blob: compressed layers
// as they are, plain tars gzipped (the store keeps layers compressed). A
// plain tar's digest is its diff ID, checked here; compressed ones are
// checked when unpacked.
func (a *adding) dockerLayerBlob(arc *loadArchive, name string, diffID digest.Digest) (ocispec.Descriptor, error) {
	rc, d, err := a.open(arc, name)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest.json: layer: %w", err)
	}
	defer rc.Close()
	c, br := sniff(rc)
	if c == uncompressed {
		desc, got, err := a.putLayerTar(br)
		if err != nil {
			return desc, fmt.Errorf("layer %s: %w", name, err)
		}
		if got != diffID {
			return desc, fmt.Errorf("layer %s: digest mismatch: content is %s, config says %s", name, got, diffID)
		}
		return desc, nil
	}
	size := int64(-1)
	if d == "" {
		d, size, err = a.putBlob(br, "", -1)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s: %w", name, err)
		}
	} else if fi, err := os.Stat(a.s.blobPath(d)); err == nil {
		size = fi.Size()
	}
	return ocispec.Descriptor{MediaType: layerMediaType(c), Digest: d, Size: size}, nil
}

// readyManifest is a loaded manifest whose layers are all unpacked, waiting
// to be named.
type readyManifest struct {
	digest    digest.Digest
	mediaType string
	size      int64
	names     []string // "" for an image loaded without a name
}

// unpackManifest unpacks the layers of a manifest whose blobs are all in
// the store, checking each against the config's diff IDs.
func (a *adding) unpackManifest(lm loadedManifest) (readyManifest, error) {
	manData, err := a.s.readBlob(lm.digest)
	if err != nil {
		return readyManifest{}, err
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(manData, &man); err != nil {
		return readyManifest{}, fmt.Errorf("manifest %s: %w", lm.digest, err)
	}
	if man.Config.Digest == "" {
		return readyManifest{}, fmt.Errorf("manifest %s: no config (schema 1 manifests are not supported)", lm.digest)
	}
	var cfg ocispec.Image
	if err := a.s.readJSONBlob(man.Config.Digest, &cfg); err != nil {
		return readyManifest{}, fmt.Errorf("manifest %s: %w", lm.digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(man.Layers) {
		return readyManifest{}, fmt.Errorf("image %s: %d diff IDs for %d layers", man.Config.Digest, len(cfg.RootFS.DiffIDs), len(man.Layers))
	}
	if err := a.unpackAll(man.Layers, cfg.RootFS.DiffIDs); err != nil {
		return readyManifest{}, err
	}
	r := readyManifest{digest: lm.digest, mediaType: lm.mediaType, size: int64(len(manData)), names: lm.names}
	if r.mediaType == "" {
		r.mediaType = man.MediaType
	}
	if r.mediaType == "" {
		r.mediaType = ocispec.MediaTypeImageManifest
	}
	if len(r.names) == 0 {
		r.names = []string{""}
	}
	return r, nil
}

// recordAll names every ready manifest in one index write.
func (a *adding) recordAll(ready []readyManifest) error {
	return a.s.updateIndex(func(idx *ocispec.Index) error {
		for _, r := range ready {
			desc := ocispec.Descriptor{MediaType: r.mediaType, Digest: r.digest, Size: r.size}
			for _, n := range r.names {
				addToIndex(idx, desc, n)
			}
		}
		return nil
	})
}

// unpackAll unpacks stored layer blobs base first.
func (a *adding) unpackAll(descs []ocispec.Descriptor, diffIDs []digest.Digest) error {
	var parents []Layer
	for i, d := range descs {
		f, err := a.s.openBlob(d.Digest)
		if err != nil {
			return err
		}
		l, err := a.unpack(f, parents, diffIDs[i])
		f.Close()
		if err != nil {
			return err
		}
		parents = append(parents, l)
	}
	return nil
}
