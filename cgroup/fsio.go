package cgroup

import (
	"bytes"
	"errors"
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

// subdirs lists child cgroups, in no particular order. It reads the
// directory with getdents into a buffer on the stack and keeps only the
// entries typed as directories: os.File.ReadDir would allocate an 8 KiB
// buffer and an entry for each of the dozens of control files of a v1
// cgroup, 50 KB of a pcr-oci run's heap, which is never collected in a
// process this short and so is all resident.
func subdirs(dir string) ([]string, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ENOENT {
			return nil, nil
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var buf [4096]byte
	var names []string
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		names, err = appendSubdirs(names, dir, buf[:n])
		if err != nil {
			return nil, err
		}
	}
}

// appendSubdirs appends the directories among the linux_dirent64 records
// in b, leaving out . and ..; an entry of unknown type is asked about.
func appendSubdirs(names []string, dir string, b []byte) ([]string, error) {
	const nameOff = 19 // d_ino 8, d_off 8, d_reclen 2, d_type 1
	for len(b) >= nameOff {
		reclen := int(b[16]) | int(b[17])<<8
		if reclen < nameOff || reclen > len(b) {
			return names, &os.PathError{Op: "getdents", Path: dir, Err: errors.New("malformed directory entry")}
		}
		typ, name := b[18], b[nameOff:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[reclen:]
		if string(name) == "." || string(name) == ".." {
			continue
		}
		if typ == unix.DT_UNKNOWN {
			var st unix.Stat_t
			if unix.Lstat(dir+"/"+string(name), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			typ = unix.DT_DIR
		}
		if typ == unix.DT_DIR {
			names = append(names, string(name))
		}
	}
	return names, nil
}
