package main

import (
	"bytes"
	"os"
	"testing"
)

// The committed tables must be what the generator makes from the x/sys this
// module builds with: an x/sys upgrade that adds syscalls fails here until
// `go generate` is run in the seccomp package.
func TestGeneratedFileIsCurrent(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../zsysnum_linux.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("zsysnum_linux.go is stale: run go generate in runtime/internal/seccomp")
	}
}
