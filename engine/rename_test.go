package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeContainer writes a record and claims its name, as Create does,
// without a bundle: enough for the name and record operations.
func fakeContainer(t *testing.T, e *Engine, name string) string {
	t.Helper()
	id := newID()
	mustDo(t, os.Mkdir(e.dir(id), 0o711))
	mustDo(t, writeRecord(e.dir(id), &Record{ID: id, Name: name, Options: Options{Name: name}}))
	mustDo(t, e.claimName(name, id))
	return id
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	e, err := New(filepath.Join(dir, "root"), filepath.Join(dir, "state"))
	mustDo(t, err)
	a := fakeContainer(t, e, "alpha")
	fakeContainer(t, e, "beta")

	mustDo(t, e.Rename("alpha", "gamma"))
	if id, err := e.Lookup("gamma"); err != nil || id != a {
		t.Fatalf("Lookup(gamma) = %s %v, want %s", id, err, a)
	}
	if _, err := e.Lookup("alpha"); err == nil {
		t.Error("the old name still finds the container")
	}
	rec, err := readRecord(e.dir(a))
	mustDo(t, err)
	if rec.Name != "gamma" || rec.Options.Name != "gamma" {
		t.Errorf("record names %q %q, want gamma", rec.Name, rec.Options.Name)
	}
	// The old name is free again.
	fakeContainer(t, e, "alpha")

	for _, c := range []struct{ ref, name, want string }{
		{"gamma", "beta", "already in use"},
		{"gamma", "gamma", "already named"},
		{"gamma", "bad/name", "invalid container name"},
		{"gamma", "", "invalid container name"},
		{"nosuch", "x", "no such container"},
	} {
		if err := e.Rename(c.ref, c.name); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Rename(%q, %q): %v, want %q", c.ref, c.name, err, c.want)
		}
	}
	// A refused rename changed nothing.
	if id, err := e.Lookup("gamma"); err != nil || id != a {
		t.Errorf("after refused renames Lookup(gamma) = %s %v", id, err)
	}
	// A stale link (its container gone) does not block the name.
	mustDo(t, os.Symlink(strings.Repeat("f", 64), e.namePath("stale")))
	mustDo(t, e.Rename("gamma", "stale"))
}
