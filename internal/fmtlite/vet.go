//go:build fmtlitevet

package fmtlite

import (
	"fmt"
	"io"
)

// Built with -tags fmtlitevet (make vet), the package forwards to fmt, so
// that go vet's printf check recognises these functions as printf
// wrappers and checks every call's format and operands with fmt's rules.

func Sprintf(format string, a ...any) string                    { return fmt.Sprintf(format, a...) }
func Errorf(format string, a ...any) error                      { return fmt.Errorf(format, a...) }
func Fprintf(w io.Writer, format string, a ...any) (int, error) { return fmt.Fprintf(w, format, a...) }
func Fprintln(w io.Writer, a ...any) (int, error)               { return fmt.Fprintln(w, a...) }
func Println(a ...any) (int, error)                             { return fmt.Println(a...) }
