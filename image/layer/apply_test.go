package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

func TestApplyKeepsMetadata(t *testing.T) {
	requireRoot(t)
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 700, time.UTC)
	owned := file("data/owned", "hello", 0o640)
	owned.Uid, owned.Gid, owned.ModTime = 1000, 1001, mtime
	owned.PAXRecords = map[string]string{"SCHILY.xattr.user.color": "blue", "SCHILY.xattr.trusted.pcr": "x"}
	su := file("usr/bin/su", "#!", 0o4755)
	sgid := file("usr/bin/wall", "#!", 0o2755)
	sgid.Gid = 5
	link := symlink("usr/bin/sh", "/does/not/exist")
	link.Uid, link.ModTime = 7, mtime
	dataDir := dirEnt("data/", 0o750)
	dataDir.ModTime = mtime
	fifo := ent{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o620, ModTime: epoch}}
	null := ent{Header: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: epoch}}
	data := mkTar(t,
		dataDir, owned, hardlink("data/twin", "data/owned"),
		dirEnt("tmp/", 0o1777), dirEnt("usr/", 0o755), dirEnt("usr/bin/", 0o755), su, sgid, link,
		fifo, null,
	)
	d := layerDir(t)
	applied, err := Apply(bytes.NewReader(data), d, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.FromBytes(data); applied.DiffID != want || applied.Size != int64(len(data)) {
		t.Errorf("applied %+v, want %s size %d", applied, want, len(data))
	}

	st := lstat(t, filepath.Join(d, "data/owned"))
	if st.Mode != unix.S_IFREG|0o640 || st.Uid != 1000 || st.Gid != 1001 || st.Nlink != 2 {
		t.Errorf("data/owned: mode %o uid %d gid %d nlink %d", st.Mode, st.Uid, st.Gid, st.Nlink)
	}
	if st.Mtim.Sec != mtime.Unix() || st.Mtim.Nsec != 700 {
		t.Errorf("data/owned mtime %v", st.Mtim)
	}
	if twin := lstat(t, filepath.Join(d, "data/twin")); twin.Ino != st.Ino {
		t.Error("data/twin is not a hard link of data/owned")
	}
	for attr, want := range map[string]string{"user.color": "blue", "trusted.pcr": "x"} {
		if v, err := getXattr(filepath.Join(d, "data/owned"), attr); err != nil || string(v) != want {
			t.Errorf("xattr %s = %q, %v", attr, v, err)
		}
	}
	if st := lstat(t, filepath.Join(d, "usr/bin/su")); st.Mode != unix.S_IFREG|0o4755 {
		t.Errorf("setuid lost: %o", st.Mode)
	}
	if st := lstat(t, filepath.Join(d, "usr/bin/wall")); st.Mode != unix.S_IFREG|0o2755 || st.Gid != 5 {
		t.Errorf("setgid lost: %o gid %d", st.Mode, st.Gid)
	}
	if st := lstat(t, filepath.Join(d, "tmp")); st.Mode != unix.S_IFDIR|0o1777 {
		t.Errorf("sticky lost: %o", st.Mode)
	}
	// The directory's mtime is the tar's, though its children were written after it.
	if st := lstat(t, filepath.Join(d, "data")); st.Mode != unix.S_IFDIR|0o750 || st.Mtim.Sec != mtime.Unix() {
		t.Errorf("data/: mode %o mtime %v", st.Mode, st.Mtim)
	}
	st = lstat(t, filepath.Join(d, "usr/bin/sh"))
	if target, _ := os.Readlink(filepath.Join(d, "usr/bin/sh")); target != "/does/not/exist" || st.Uid != 7 || st.Mtim.Sec != mtime.Unix() {
		t.Errorf("symlink: -> %q uid %d mtime %v", target, st.Uid, st.Mtim)
	}
	if st := lstat(t, filepath.Join(d, "run/fifo")); st.Mode != unix.S_IFIFO|0o620 {
		t.Errorf("fifo: %o", st.Mode)
	}
	if st := lstat(t, filepath.Join(d, "dev/null")); st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: %o rdev %d", st.Mode, st.Rdev)
	}
	// Parents the layer did not list are created like Docker does.
	if st := lstat(t, filepath.Join(d, "run")); st.Mode != unix.S_IFDIR|0o755 || st.Uid != 0 {
		t.Errorf("implicit run/: %o", st.Mode)
	}
	if st := lstat(t, d); st.Mode&0o7777 != 0o755 {
		t.Errorf("layer root mode %o, want 755", st.Mode&0o7777)
	}
}

func TestApplyLaterEntryWins(t *testing.T) {
	requireRoot(t)
	d := mustApply(t, mkTar(t,
		file("f", "one", 0o644), file("f", "two", 0o600),
		dirEnt("d/", 0o755), file("d/keep", "k", 0o644), dirEnt("d/", 0o700), // merges
		dirEnt("gone/", 0o755), file("gone/x", "x", 0o644), file("gone", "now a file", 0o644),
		file("wasfile", "x", 0o644), dirEnt("wasfile/", 0o755),
		symlink("l", "a"), symlink("l", "b"),
	), ApplyOptions{})
	if b, _ := os.ReadFile(filepath.Join(d, "f")); string(b) != "two" || lstat(t, filepath.Join(d, "f")).Mode&0o777 != 0o600 {
		t.Errorf("f = %q", b)
	}
	if st := lstat(t, filepath.Join(d, "d")); st.Mode&0o777 != 0o700 {
		t.Errorf("d mode %o", st.Mode)
	}
	lstat(t, filepath.Join(d, "d/keep"))
	if b, _ := os.ReadFile(filepath.Join(d, "gone")); string(b) != "now a file" {
		t.Errorf("gone = %q", b)
	}
	if st := lstat(t, filepath.Join(d, "wasfile")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("wasfile is %o", st.Mode)
	}
	if l, _ := os.Readlink(filepath.Join(d, "l")); l != "b" {
		t.Errorf("l -> %q", l)
	}
}

func TestApplyCompressed(t *testing.T) {
	requireRoot(t)
	plain := mkTar(t, dirEnt("etc/", 0o755), file("etc/os-release", strings.Repeat("pcr\n", 5000), 0o644))
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain)
	zw.Close()
	for name, blob := range map[string][]byte{"tar": plain, "gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		t.Run(name, func(t *testing.T) {
			d := layerDir(t)
			a, err := Apply(bytes.NewReader(blob), d, ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(plain); a.DiffID != digest.NewDigestFromBytes(digest.SHA256, sum[:]) || a.Size != int64(len(plain)) {
				t.Errorf("diffid %s size %d", a.DiffID, a.Size)
			}
			if b, _ := os.ReadFile(filepath.Join(d, "etc/os-release")); len(b) != 20000 {
				t.Errorf("content %d bytes", len(b))
			}
		})
	}
}

func TestApplyCorruptStreams(t *testing.T) {
	requireRoot(t)
	plain := mkTar(t, file("a", strings.Repeat("x", 100000), 0o644), file("b", "b", 0o644))
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain)
	zw.Close()
	flip := func(b []byte, at int) []byte {
		c := bytes.Clone(b)
		c[at] ^= 0xff
		return c
	}
	gzb, zsb := gz.Bytes(), zs.Bytes()
	cases := map[string][]byte{
		"gzip flipped body":   flip(gzb, len(gzb)/2),
		"gzip bad crc":        flip(gzb, len(gzb)-6),
		"gzip truncated":      gzb[:len(gzb)/2],
		"gzip header only":    gzb[:10],
		"zstd flipped":        flip(zsb, len(zsb)/2),
		"zstd truncated":      zsb[:len(zsb)-5],
		"tar truncated":       plain[:700],
		"tar garbage header":  flip(plain, 148), // the checksum field
		"not a tar":           []byte(strings.Repeat("hello world\n", 100)),
		"gzip of garbage tar": gzipOf([]byte(strings.Repeat("z", 2000))),
	}
	for name, blob := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Apply(bytes.NewReader(blob), layerDir(t), ApplyOptions{})
			if err == nil {
				t.Fatal("corrupt stream applied without error")
			}
			t.Log(err)
		})
	}
}

func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestApplyRefusesEscapes(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	sentinel := filepath.Join(base, "sentinel")
	if err := os.Mkdir(sentinel, 0o755); err != nil {
		t.Fatal(err)
	}
	// A lower layer whose symlink points at the sentinel.
	lower := filepath.Join(base, "lower")
	os.Mkdir(lower, 0o755)
	if err := os.Symlink(sentinel, filepath.Join(lower, "lnk")); err != nil {
		t.Fatal(err)
	}
	passwd := lstat(t, "/etc/passwd")
	dev := ent{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o600, Devmajor: 8, ModTime: epoch}}
	sentinelRel := strings.TrimPrefix(sentinel, "/")
	cases := []struct {
		name string
		bad  string // the entry the error must name
		ents []ent
		opts ApplyOptions
	}{
		{"dotdot", "../sentinel/x", []ent{file("../sentinel/x", "x", 0o644)}, ApplyOptions{}},
		{"absolute", sentinel + "/x", []ent{file(sentinel+"/x", "x", 0o644)}, ApplyOptions{}},
		{"absolute etc", "/etc/x", []ent{file("/etc/x", "x", 0o644)}, ApplyOptions{}},
		{"dotdot inside", "a/../../sentinel/x", []ent{dirEnt("a/", 0o755), file("a/../../sentinel/x", "x", 0o644)}, ApplyOptions{}},
		{"symlink to root", "a/" + sentinelRel + "/x", []ent{symlink("a", "/"), file("a/"+sentinelRel+"/x", "x", 0o644)}, ApplyOptions{}},
		{"symlink to root etc", "a/etc/passwd", []ent{symlink("a", "/"), file("a/etc/passwd", "x", 0o644)}, ApplyOptions{}},
		{"relative symlink out", "a/x", []ent{symlink("a", "../sentinel"), file("a/x", "x", 0o644)}, ApplyOptions{}},
		{"symlink dir entry", "a/sub/", []ent{symlink("a", sentinel), dirEnt("a/sub/", 0o755)}, ApplyOptions{}},
		{"symlink whiteout", "a/.wh.x", []ent{symlink("a", sentinel), file("a/.wh.x", "", 0)}, ApplyOptions{}},
		{"lower symlink", "lnk/x", []ent{file("lnk/x", "x", 0o644)}, ApplyOptions{Lowers: []string{lower}}},
		{"lower symlink deep", "lnk/a/b", []ent{file("lnk/a/b", "x", 0o644)}, ApplyOptions{Lowers: []string{t.TempDir(), lower}}},
		{"hardlink out", "h", []ent{hardlink("h", "../../etc/passwd")}, ApplyOptions{}},
		{"hardlink absolute", "h", []ent{hardlink("h", "/etc/passwd")}, ApplyOptions{}},
		{"hardlink through symlink", "h", []ent{symlink("s", "/etc"), hardlink("h", "s/passwd")}, ApplyOptions{}},
		{"device", "dev/sda", []ent{dev}, ApplyOptions{NoDevices: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := layerDir(t)
			_, err := Apply(bytes.NewReader(mkTar(t, c.ents...)), d, c.opts)
			if err == nil {
				t.Fatal("applied without error")
			}
			if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), `"`+c.bad+`"`) {
				t.Errorf("error %q: want ErrUnsafeEntry naming %q", err, c.bad)
			}
			t.Log(err)
			if names, _ := os.ReadDir(sentinel); len(names) != 0 {
				t.Errorf("sentinel dir written: %v", names)
			}
			for _, p := range []string{"/x", "/etc/x", filepath.Join(filepath.Dir(d), "x")} {
				absent(t, p)
			}
			if st := lstat(t, "/etc/passwd"); st.Nlink != passwd.Nlink || st.Mtim != passwd.Mtim {
				t.Error("/etc/passwd changed")
			}
		})
	}
}

// A symlink in a lower layer is harmless when something above hides it; refusing those would
// refuse ordinary images.
func TestApplyLowerSymlinkHidden(t *testing.T) {
	requireRoot(t)
	base := mustApply(t, mkTar(t, symlink("lnk", "/etc"), dirEnt("d/", 0o755), symlink("d/lnk", "/etc")), ApplyOptions{})
	mid := mustApply(t, mkTar(t, file(".wh.lnk", "", 0), dirEnt("d/", 0o755), file("d/.wh..wh..opq", "", 0)), ApplyOptions{Lowers: []string{base}})
	// The top layer lists lnk/ itself: its directory replaces the lower symlink.
	top := mustApply(t, mkTar(t, file("lnk/x", "x", 0o644), file("d/lnk/y", "y", 0o644)), ApplyOptions{Lowers: []string{mid, base}})
	lstat(t, filepath.Join(top, "lnk/x"))
	if st := lstat(t, filepath.Join(top, "d/lnk")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("d/lnk: %o", st.Mode)
	}
	own := mustApply(t, mkTar(t, dirEnt("lnk/", 0o755), file("lnk/z", "z", 0o644)), ApplyOptions{Lowers: []string{base}})
	lstat(t, filepath.Join(own, "lnk/z"))
}

// Parents a layer uses without listing take the lower directory's attributes, so /tmp stays 1777.
func TestApplyImplicitParentFromLower(t *testing.T) {
	requireRoot(t)
	tmp := dirEnt("tmp/", 0o1777)
	tmp.Uid = 3
	base := mustApply(t, mkTar(t, tmp), ApplyOptions{})
	top := mustApply(t, mkTar(t, file("tmp/f", "f", 0o644)), ApplyOptions{Lowers: []string{base}})
	if st := lstat(t, filepath.Join(top, "tmp")); st.Mode != unix.S_IFDIR|0o1777 || st.Uid != 3 {
		t.Errorf("tmp: mode %o uid %d", st.Mode, st.Uid)
	}
}

func TestApplyWhiteoutForm(t *testing.T) {
	requireRoot(t)
	d := mustApply(t, mkTar(t,
		dirEnt("a/", 0o755), file("a/.wh.gone", "", 0), dirEnt("o/", 0o755), file("o/.wh..wh..opq", "", 0),
		file("kept", "k", 0o644), file(".wh.kept", "", 0), // same-layer content survives its whiteout
	), ApplyOptions{NoDevices: true})
	if st := lstat(t, filepath.Join(d, "a/gone")); !isWhiteout(st) {
		t.Errorf("a/gone is not an overlay whiteout: mode %o rdev %d", st.Mode, st.Rdev)
	}
	absent(t, filepath.Join(d, "a/.wh.gone"))
	if !isOpaque(filepath.Join(d, "o")) {
		t.Error("o is not opaque")
	}
	absent(t, filepath.Join(d, "o/.wh..wh..opq"))
	if b, _ := os.ReadFile(filepath.Join(d, "kept")); string(b) != "k" {
		t.Errorf("kept = %q", b)
	}
}

func TestApplyNeedsEmptyDir(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "x"), nil, 0o644)
	if _, err := Apply(bytes.NewReader(nil), d, ApplyOptions{}); err == nil {
		t.Fatal("applied into a non-empty directory")
	}
}
