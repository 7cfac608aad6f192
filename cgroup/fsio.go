package cgroup

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// WriteError says which cgroup file refused which value, so a user can tell
// "memory.limit_in_bytes \"1\"" from a permission problem at a glance.
type WriteError struct {
	Path  string
	Value string
	Err   error
}

func (e *WriteError) Error() string {
	return fmtlite.Sprintf("write %s %q: %v", e.Path, e.Value, e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// InvalidError is a value pcr rejects before the kernel sees it.
type InvalidError struct {
	File   string
	Value  string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmtlite.Sprintf("invalid %s %q: %s", e.File, e.Value, e.Reason)
}

func invalid(file, value, format string, args ...any) error {
	return &InvalidError{File: file, Value: value, Reason: fmtlite.Sprintf(format, args...)}
}

// writeFile uses raw open/write/close: os.WriteFile adds an fstat per call and
// Apply writes a dozen files on the container start path.
func writeFile(dir, name, value string) error {
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_TRUNC, 0)
	if err != nil {
		return &WriteError{Path: path, Value: value, Err: err}
	}
	_, err = unix.Write(fd, []byte(value))
	for err == unix.EINTR {
		_, err = unix.Write(fd, []byte(value))
	}
	unix.Close(fd)
	if err != nil {
		return &WriteError{Path: path, Value: value, Err: err}
	}
	return nil
}

// readFile reads a small cgroup file whole. cgroupfs files are generated per
// read, so one large read is both correct and cheapest.
func readFile(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &readError{path, err}
	}
	defer unix.Close(fd)
	// Most cgroup files hold a line; the buffer doubles for the rest.
	buf := make([]byte, 512)
	n := 0
	for {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &readError{path, err}
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}

type readError struct {
	path string
	err  error
}

func (e *readError) Error() string { return fmtlite.Sprintf("read %s: %v", e.path, e.err) }
func (e *readError) Unwrap() error { return e.err }

func readString(dir, name string) (string, error) {
	b, err := readFile(dir, name)
	return string(bytes.TrimSpace(b)), err
}

// readUint parses a single-number file; "max" (v2) reads as 0, which is how
// runc reports "no limit" in its stats.
func readUint(dir, name string) (uint64, error) {
	s, err := readString(dir, name)
	if err != nil {
		return 0, err
	}
	return parseUintMax(s, filepath.Join(dir, name))
}

func parseUintMax(s, path string) (uint64, error) {
	if s == "max" || s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmtlite.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// readKV parses "key value" lines (memory.stat, cpu.stat, cgroup.events).
func readKV(dir, name string) (map[string]uint64, error) {
	b, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

func exists(path string) bool {
	return unix.Access(path, unix.F_OK) == nil
}

// readPids reads cgroup.procs of dir and of every cgroup below it.
func readPids(dir string, out []int) ([]int, error) {
	b, err := readFile(dir, "cgroup.procs")
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return out, nil
		}
		return out, err
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	subs, err := subdirs(dir)
	if err != nil {
		return out, err
	}
	for _, s := range subs {
		if out, err = readPids(filepath.Join(dir, s), out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// subdirs lists child cgroups, in no particular order. File.ReadDir takes
// the type from getdents, so there is no stat per entry (and, unlike
// os.ReadDir, it does not sort: code pcr-oci would map for nothing).
func subdirs(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
