//go:build !fmtlitevet

package fmtlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

type kind string

type level int

type flags uint32

type named struct{ s string }

type panicky struct{}

func (panicky) String() string { panic("no string today") }

type ptrErr struct{ msg string }

func (e *ptrErr) Error() string { return e.msg }

func (n named) String() string { return "named:" + n.s }

// Every case is checked against package fmt itself.
func TestSprintfMatchesFmt(t *testing.T) {
	err := errors.New("boom")
	cases := []struct {
		format string
		args   []any
	}{
		{"plain text", nil},
		{"100%% sure", nil},
		{"%s and %s", []any{"a", "b"}},
		{"%v|%s|%q", []any{err, err, err}},
		{"%d %d %d %d %d %d", []any{0, -1, int64(-9223372036854775808), uint64(18446744073709551615), int32(7), uint32(8)}},
		{"%8d|%-8d|%08d|%6d|%+d|% d", []any{42, 42, -42, 123456789, 5, 5}},
		{"%x %X %#x %#X %x", []any{255, 255, 255, 3054, -1}},
		{"%x|% x|%#x|%X", []any{"hi\x00", []byte{1, 0xab, 2}, "ab", "z"}},
		{"%q %q %.3q %#q %+q", []any{"a\"b\n", []byte("x"), "abcdef", "back`tick", "é"}},
		{"%.200q", []any{strings.Repeat("é", 300)}},
		{"%-*s|%*s|", []any{8, "left", 6, "r"}},
		{"%s %v %q %d", []any{kind("cgroup"), kind("pid"), kind("mnt"), level(-3)}},
		{"%d %x %v", []any{flags(10), flags(255), flags(7)}},
		{"%v %v %s", []any{true, false, true}},
		{"%v %v", []any{1.5, float32(0.25)}},
		{"%v|%s|%q|%d", []any{[]string{"a", "b"}, []string{"c"}, []string{"d", "e"}, []int{1, 2}}},
		{"%v %d", []any{[]byte{1, 2}, []byte{3}}},
		{"%s %v %d", []any{named{"x"}, named{"y"}, syscall.Signal(9)}},
		{"%s %v", []any{syscall.SIGTERM, os.FileMode(0o755) | fs.ModeDir}},
		{"%v %s", []any{2 * time.Second, 1500 * time.Millisecond}},
		{"%v %s", []any{nil, error(nil)}},
		{"%s", []any{syscall.ENOENT}},
		{"%d %s", []any{"str", 5}},
		{"missing %s %d", []any{"one"}},
		{"extra %s", []any{"one", 2, "three"}},
		{"%z", []any{1}},
		{"%", nil},
		{"%5.2s|", []any{"abcdef"}},
		{"%c", []any{'é'}},
		{"%v", []any{(*int)(nil)}},
		{"%v|%s", []any{(*ptrErr)(nil), &ptrErr{"set"}}},
		{"%s|%v", []any{panicky{}, 1}},
		{"%*d|%-*d|%*s|", []any{int64(5), 1, uint8(4), 2, -1, "x"}},
		{"%.*s|%.*s|%*s|", []any{-1, "abc", 2, "abc", "nan", "y"}},
		{"%*d", []any{int64(1 << 40), 3}},
		{"%.s|%.0q|%5.1s|", []any{"abc", "abc", "abc"}},
		{"%x|% X", []any{[4]byte{1, 2, 3, 0xff}, [2]byte{0xab, 0xcd}}},
		{"%99999999d|", []any{1}},
		{"%d.", []any{1}},
	}
	for _, c := range cases {
		want := fmt.Sprintf(c.format, c.args...)
		if got := Sprintf(c.format, c.args...); got != want {
			t.Errorf("Sprintf(%q, %#v):\n got %q\nwant %q", c.format, c.args, got, want)
		}
	}
}

func TestArgumentIndexesAreRefusedVisibly(t *testing.T) {
	if got := Sprintf("%[2]d %d", 1, 2); !strings.HasPrefix(got, "%!(BADINDEX)") {
		t.Errorf("got %q, want it to start with %%!(BADINDEX)", got)
	}
}

func TestErrorfWraps(t *testing.T) {
	base := fs.ErrNotExist
	e := Errorf("open %s: %w", "/x", base)
	if want := fmt.Errorf("open %s: %w", "/x", base); e.Error() != want.Error() {
		t.Errorf("message %q, want %q", e, want)
	}
	if !errors.Is(e, fs.ErrNotExist) || errors.Unwrap(e) != base {
		t.Errorf("%v does not wrap %v", e, base)
	}
	var pe *fs.PathError
	inner := &fs.PathError{Op: "open", Path: "/y", Err: syscall.EACCES}
	if !errors.As(Errorf("layer: %w", inner), &pe) || pe.Path != "/y" {
		t.Errorf("errors.As through Errorf failed")
	}
	two := Errorf("%w and %w", base, syscall.EPERM)
	if !errors.Is(two, base) || !errors.Is(two, syscall.EPERM) || two.Error() != fmt.Errorf("%w and %w", base, syscall.EPERM).Error() {
		t.Errorf("two wrapped errors: %v", two)
	}
	plain := Errorf("no wrap %d", 3)
	if errors.Unwrap(plain) != nil || plain.Error() != "no wrap 3" {
		t.Errorf("plain: %v", plain)
	}
	for _, args := range [][]any{{nil}, {"not an error"}} {
		got, want := Errorf("bad %w", args...), fmt.Errorf("bad %w", args...)
		if got.Error() != want.Error() || errors.Unwrap(got) != nil {
			t.Errorf("Errorf(%%w, %v) = %q, want %q and nothing wrapped", args, got, want)
		}
	}
}

func TestFprint(t *testing.T) {
	var got, want strings.Builder
	Fprintf(&got, "%s=%d\n", "a", 1)
	fmt.Fprintf(&want, "%s=%d\n", "a", 1)
	Fprintln(&got, "x", 2, kind("k"), errors.New("e"), nil, []string{"s"})
	fmt.Fprintln(&want, "x", 2, kind("k"), errors.New("e"), nil, []string{"s"})
	if got.String() != want.String() {
		t.Errorf("got %q, want %q", got.String(), want.String())
	}
}
