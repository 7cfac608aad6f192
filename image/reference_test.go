package image

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                          "busybox:latest",
		"busybox:1.36":                     "busybox:1.36",
		"127.0.0.1:5000/debian-php":        "127.0.0.1:5000/debian-php:latest",
		"127.0.0.1:5000/debian-php:v2":     "127.0.0.1:5000/debian-php:v2",
		"localhost/a/b":                    "localhost/a/b:latest",
		"library/debian":                   "library/debian:latest",
		"my-org/my_app.x__y:Tag_1.2-3":     "my-org/my_app.x__y:Tag_1.2-3",
		"[::1]:5000/x":                     "[::1]:5000/x:latest",
		"registry.example.internal:443/ns": "registry.example.internal:443/ns:latest",
	} {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Busybox", "a:", ":tag", "a//b", "a/../b", "-a", "a:b:c", "a:" + strings.Repeat("x", 129), "a@sha256:abc", "busybox@sha256:" + strings.Repeat("0", 64)} {
		if got, err := NormalizeName(bad); err == nil {
			t.Errorf("NormalizeName(%q) = %q, want an error", bad, got)
		}
	}
}

func TestResolve(t *testing.T) {
	s := newStore(t)
	a := importTar(t, s, "a", tarOf(file("a", "1")))
	b := importTar(t, s, "127.0.0.1:5000/b:v1", tarOf(file("b", "2")))
	for ref, want := range map[string]*Image{
		"a":                              a,
		"a:latest":                       a,
		a.ID.String():                    a,
		a.ID.Encoded()[:12]:              a,
		a.ID.Encoded():                   a,
		a.ManifestDigest.String():        a,
		"a@" + a.ManifestDigest.String(): a,
		"127.0.0.1:5000/b:v1":            b,
		b.ID.Encoded()[:4]:               b,
	} {
		got, err := s.Resolve(ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", ref, err)
			continue
		}
		if got.ID != want.ID {
			t.Errorf("Resolve(%q) = %s, want %s", ref, got.ID, want.ID)
		}
	}
	for _, ref := range []string{"b", "127.0.0.1:5000/b", "nothere", "abc", "a:other", "sha256:" + strings.Repeat("f", 64)} {
		_, err := s.Resolve(ref)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) = %v, want ErrNotFound", ref, err)
			continue
		}
		if err.Error() != "unable to find image '"+ref+"'" {
			t.Errorf("Resolve(%q) message %q", ref, err)
		}
	}
}
