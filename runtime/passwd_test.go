package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPasswdEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	data := "# a comment\n\nroot:x:0:0:root:/root:/bin/sh\nshort:x:7\nwww:x:33:33:www:/var/www:/usr/sbin/nologin\napp:x:1000:1000::/home/app\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, ok := passwdEntry(path, "33"); !ok || f[0] != "www" || f[5] != "/var/www" {
		t.Errorf("uid 33: got %q %v", f, ok)
	}
	if f, ok := passwdEntry(path, "0"); !ok || f[0] != "root" {
		t.Errorf("uid 0: got %q %v", f, ok)
	}
	if f, ok := passwdEntry(path, "1000"); !ok || f[5] != "/home/app" {
		t.Errorf("uid 1000, no shell field: got %q %v", f, ok)
	}
	for _, uid := range []string{"7", "1001", ""} {
		if f, ok := passwdEntry(path, uid); ok {
			t.Errorf("uid %q: got %q, want no entry", uid, f)
		}
	}
	if _, ok := passwdEntry(filepath.Join(t.TempDir(), "none"), "0"); ok {
		t.Error("a missing file gave an entry")
	}
}
