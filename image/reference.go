package image

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The grammar of distribution's reference package, restated: a repository
// is path components of lower-case alphanumerics joined by separators,
// optionally after a host[:port]; a tag is up to 128 word characters.
// Compiled on first use: at package init they would cost every pcr process,
// the container's re-exec'd init included, about a millisecond.
var referenceGrammar = sync.OnceValue(func() *grammar {
	return &grammar{
		host:      regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$`),
		component: regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`),
		tag:       regexp.MustCompile(`^[\w][\w.-]{0,127}$`),
		hex:       regexp.MustCompile(`^[a-f0-9]+$`),
	}
})

type grammar struct{ host, component, tag, hex *regexp.Regexp }

// Reference is a parsed image reference: repository, tag and/or digest.
type Reference struct {
	Repository string // e.g. busybox, 127.0.0.1:5000/debian-php
	Tag        string // "latest" when neither tag nor digest was given
	Digest     digest.Digest
}

// String is the normalized form: repo:tag, repo@digest or repo:tag@digest.
func (r Reference) String() string {
	s := r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// ParseReference parses "repo[:tag][@digest]" and fills in the tag latest
// when neither tag nor digest is given. It never adds a registry host.
func ParseReference(ref string) (Reference, error) {
	bad := func(why string) (Reference, error) {
		return Reference{}, fmt.Errorf("invalid reference format %q: %s", ref, why)
	}
	if ref == "" {
		return bad("empty")
	}
	if len(ref) > 255+128+80 {
		return bad("too long")
	}
	r := Reference{}
	rest := ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		d, err := digest.Parse(rest[i+1:])
		if err != nil {
			return bad("bad digest: " + err.Error())
		}
		r.Digest, rest = d, rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i:], "/") {
		r.Tag, rest = rest[i+1:], rest[:i]
		if !referenceGrammar().tag.MatchString(r.Tag) {
			return bad("bad tag")
		}
	}
	parts := strings.Split(rest, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost" || parts[0] != strings.ToLower(parts[0])) {
		if !referenceGrammar().host.MatchString(parts[0]) {
			return bad("bad registry host")
		}
		parts = parts[1:]
	}
	for _, c := range parts {
		if !referenceGrammar().component.MatchString(c) {
			if c != strings.ToLower(c) {
				return bad("repository name must be lowercase")
			}
			return bad("bad repository name")
		}
	}
	r.Repository = rest
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// NormalizeName turns a user's "name[:tag]" into the stored "name:tag".
func NormalizeName(name string) (string, error) {
	r, err := ParseReference(name)
	if err != nil {
		return "", err
	}
	if r.Digest != "" {
		return "", fmt.Errorf("invalid image name %q: a name to tag with cannot carry a digest", name)
	}
	return r.String(), nil
}

// SplitName splits a stored "repo:tag" into repository and tag.
func SplitName(name string) (repo, tag string) {
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i:], "/") {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// Resolve finds an image by name[:tag], name@digest, full image ID or
// manifest digest ("sha256:…"), or a unique prefix of at least 4 hex
// characters of the image ID. Names win over ID prefixes, as in Docker.
func (s *Store) Resolve(ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	m, err := s.resolveManifest(idx, ref)
	if err != nil {
		return nil, err
	}
	return s.load(idx, m)
}

// notFoundError reads as Docker's message and matches ErrNotFound.
type notFoundError struct{ ref string }

func (e notFoundError) Error() string        { return fmt.Sprintf("unable to find image '%s'", e.ref) }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(ref string) error { return notFoundError{ref} }

// resolveManifest finds the manifest digest that ref names in idx.
func (s *Store) resolveManifest(idx *ocispec.Index, ref string) (digest.Digest, error) {
	if ref == "" {
		return "", errors.New("empty image reference")
	}
	if r, err := ParseReference(ref); err == nil {
		if r.Digest != "" {
			for _, d := range idx.Manifests {
				if d.Digest == r.Digest {
					return d.Digest, nil
				}
			}
			// name@<image ID> is not a thing; fall through to the ID search on the digest alone.
		} else {
			name := r.String()
			for _, d := range idx.Manifests {
				if nameOf(d) == name {
					return d.Digest, nil
				}
			}
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if i := strings.IndexByte(prefix, '@'); i >= 0 {
		prefix = strings.TrimPrefix(prefix[i+1:], "sha256:")
	}
	if len(prefix) < 4 || !referenceGrammar().hex.MatchString(prefix) {
		return "", notFound(ref)
	}
	full := len(prefix) == 64
	var found []digest.Digest
	seen := map[digest.Digest]bool{}
	for _, d := range idx.Manifests {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		if full && d.Digest.Encoded() == prefix {
			return d.Digest, nil
		}
		id, err := s.configDigest(d.Digest)
		if err != nil {
			continue
		}
		if strings.HasPrefix(id.Encoded(), prefix) {
			found = append(found, d.Digest)
		}
	}
	switch len(found) {
	case 0:
		return "", notFound(ref)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("image ID prefix %q is ambiguous: it matches %d images", ref, len(found))
}

// configDigest is the image ID of manifest m.
func (s *Store) configDigest(m digest.Digest) (digest.Digest, error) {
	var man ocispec.Manifest
	if err := s.readJSONBlob(m, &man); err != nil {
		return "", err
	}
	return man.Config.Digest, nil
}

// List returns every image in the store, newest first. An image that
// cannot be loaded (a blob or layer missing or corrupt) is left out, so one
// broken image does not hide the others; it is reported once per Store on
// the warnings writer (see SetWarnings), and rmi and prune can still
// delete it.
func (s *Store) List() ([]*Image, error) {
	all, err := s.listAll()
	if err != nil {
		return nil, err
	}
	out := all[:0:0]
	for _, img := range all {
		if img.broken != nil {
			s.warnBroken(img)
			continue
		}
		out = append(out, img)
	}
	return out, nil
}

// listAll is every image in the index, newest first, the broken ones with
// as much as could be read and broken set.
func (s *Store) listAll() ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	seen := map[digest.Digest]bool{}
	for _, d := range idx.Manifests {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		out = append(out, s.loadPartial(idx, d.Digest))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Config.Created, out[j].Config.Created
		if a != nil && b != nil && !a.Equal(*b) {
			return a.After(*b)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// load reads manifest m, its config and its layers' metadata; a missing or
// unreadable piece is an error.
func (s *Store) load(idx *ocispec.Index, m digest.Digest) (*Image, error) {
	img := s.loadPartial(idx, m)
	if img.broken != nil {
		return nil, img.broken
	}
	return img, nil
}

// loadPartial reads what it can of manifest m and records in img.broken
// what it could not. A broken image keeps enough (names, ID, layer blobs and
// chain IDs, as far as they could be read) for rmi and prune to delete it.
func (s *Store) loadPartial(idx *ocispec.Index, m digest.Digest) *Image {
	img := &Image{ManifestDigest: m}
	for _, d := range idx.Manifests {
		if d.Digest != m {
			continue
		}
		img.mediaType, img.manifestSize = d.MediaType, d.Size
		if n := nameOf(d); n != "" {
			img.Names = append(img.Names, n)
		}
	}
	sort.Strings(img.Names)
	if err := s.readJSONBlob(m, &img.Manifest); err != nil {
		img.broken = fmt.Errorf("image %s: %w", m, err)
		return img
	}
	img.ID = img.Manifest.Config.Digest
	if err := s.readJSONBlob(img.ID, &img.Config); err != nil {
		img.broken = fmt.Errorf("image %s: %w", m, err)
		return img
	}
	for _, chain := range chainIDs(img.Config.RootFS.DiffIDs) {
		l, err := s.layer(chain)
		if err != nil {
			if img.broken == nil {
				img.broken = fmt.Errorf("image %s: %w", img.ID, err)
			}
			l = Layer{ChainID: chain}
		}
		img.Layers = append(img.Layers, l)
		img.Size += l.Size
	}
	return img
}

// warnBroken says once per Store that img was left out of a listing.
func (s *Store) warnBroken(img *Image) {
	s.warnMu.Lock()
	defer s.warnMu.Unlock()
	if s.warnings == nil || s.warned[img.ManifestDigest] {
		return
	}
	if s.warned == nil {
		s.warned = map[digest.Digest]bool{}
	}
	s.warned[img.ManifestDigest] = true
	what := img.ManifestDigest.String()
	if len(img.Names) > 0 {
		what = strings.Join(img.Names, ", ")
	}
	fmt.Fprintf(s.warnings, "WARNING: skipping broken image %s: %v (remove it with `pcr rmi %s`)\n",
		what, img.broken, rmiRef(img))
}

// rmiRef is the reference that removes img: a name, else its manifest digest.
func rmiRef(img *Image) string {
	if len(img.Names) > 0 {
		return img.Names[0]
	}
	return img.ManifestDigest.String()
}
