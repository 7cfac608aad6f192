package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pcr/vserver"
)

func TestParseSlices(t *testing.T) {
	specs, err := ParseSlices([]byte(`{"slices":[
		{"slice":"pl_a","image":"busybox","rspec":{"memory":"64M","disk":"64M","net_rate":"10mbit","cpu_share":512,"cpu_cores":0.5,"pids":64,"nofile":1024},
		 "expires":"2030-01-02T03:04:05Z","network":"none"},
		{"slice":"pl_b","image":"debian"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 {
		t.Fatalf("got %d specs, want 2", len(specs))
	}
	a := specs[0]
	want := vserver.Rspec{CPUShare: 512, CPUCores: 0.5, Memory: 64 << 20, Disk: 64 << 20, Pids: 64, NetRate: 1250000, Nofile: 1024}
	if a.Slice != "pl_a" || a.Image != "busybox" || a.Network != "none" || a.Rspec != want {
		t.Errorf("spec %+v, want rspec %+v", a, want)
	}
	if !a.Expires.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("expires %v", a.Expires)
	}
	if !specs[1].Expires.IsZero() {
		t.Errorf("pl_b should never expire, got %v", specs[1].Expires)
	}
}

func TestParseSlicesErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\"slices\":[\n{\"slice\":\"pl_a\",\"image\":\"busybox\",}\n]}", "line 2"},
		{`{"slices":[{"slice":"pl_a","image":"busybox","rspec":{"memroy":"1G"}}]}`, `unknown field "memroy"`},
		{`{"slices":[{"slice":"pl_a","image":"busybox","rspec":{"memory":"lots"}}]}`, "line 1"},
		{`{"slices":[{"slice":"Bad","image":"busybox"}]}`, `slice 1: invalid slice name "Bad"`},
		{`{"slices":[{"slice":"pl_a","image":"x"},{"slice":"pl_a","image":"y"}]}`, "slice pl_a is listed twice"},
		{`{"slices":[{"slice":"pl_a","image":"x","expires":"tomorrow"}]}`, "line 1"},
		{`{"slices":[{"slice":"pl_a","image":"x","rspec":{"pids":"many"}}]}`, "want int64"},
		{`{"slices":[`, "the file ends in the middle of a value"},
		{``, "empty file"},
	}
	for _, tt := range tests {
		_, err := ParseSlices([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSlices(%q): err %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitChanged(t *testing.T, f *FileSource, what string) {
	t.Helper()
	select {
	case <-f.Changed():
	case <-time.After(5 * time.Second):
		t.Fatalf("no change signalled after %s", what)
	}
}

func noChange(t *testing.T, f *FileSource, what string) {
	t.Helper()
	select {
	case <-f.Changed():
		t.Fatalf("change signalled after %s", what)
	case <-time.After(2500 * time.Millisecond):
	}
}

func slicesOf(t *testing.T, f *FileSource) []string {
	t.Helper()
	specs, err := f.Desired(context.Background())
	if err != nil {
		t.Fatalf("Desired: %v", err)
	}
	var out []string
	for _, s := range specs {
		out = append(out, s.Slice)
	}
	return out
}

func TestFileSourceFollowsTheFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "slices.json")

	f := NewFileSource(ctx, path, nil)
	if _, err := f.Desired(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file at start: err %v, want 'does not exist'", err)
	}

	writeFile(t, path, `{"slices":[{"slice":"pl_a","image":"busybox"}]}`)
	waitChanged(t, f, "the file appeared")
	if got := slicesOf(t, f); strings.Join(got, ",") != "pl_a" {
		t.Fatalf("slices %v, want [pl_a]", got)
	}

	writeFile(t, path, `{"slices":[{"slice":"pl_a","image":"busybox"},{"slice":"pl_b","image":"busybox"}]}`)
	waitChanged(t, f, "a slice was added")
	if got := slicesOf(t, f); strings.Join(got, ",") != "pl_a,pl_b" {
		t.Fatalf("slices %v, want [pl_a pl_b]", got)
	}

	// A bad edit keeps the last good set, says why, and changes nothing.
	writeFile(t, path, `{"slices":[{"slice":"pl_a",`)
	noChange(t, f, "a bad edit")
	if got := slicesOf(t, f); strings.Join(got, ",") != "pl_a,pl_b" {
		t.Fatalf("after a bad edit slices %v, want the previous [pl_a pl_b]", got)
	}
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Err() = %v, want the file's problem naming it", err)
	}

	// So does a removed file.
	os.Remove(path)
	noChange(t, f, "the file was removed")
	if got := slicesOf(t, f); strings.Join(got, ",") != "pl_a,pl_b" {
		t.Fatalf("after removal slices %v, want the previous [pl_a pl_b]", got)
	}

	writeFile(t, path, `{"slices":[]}`)
	waitChanged(t, f, "the slices were emptied")
	if got := slicesOf(t, f); len(got) != 0 {
		t.Fatalf("slices %v, want none", got)
	}
	if f.Err() != nil {
		t.Fatalf("Err() = %v after a good file", f.Err())
	}
}

func TestFileSourceSameContentIsNoChange(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "slices.json")
	content := `{"slices":[{"slice":"pl_a","image":"busybox"}]}`
	writeFile(t, path, content)
	f := NewFileSource(ctx, path, nil)
	writeFile(t, path, content) // touched, same bytes
	noChange(t, f, "rewriting the same content")
}
