// Package fmtlite formats as package fmt does, for the verbs, flags and
// operands pcr's runtime uses, without fmt's printer.
//
// Why: every package fmt's printer reaches (reflect's Value machinery,
// fmtsort, float formatting) is linked into any binary that prints through
// it, and a short-lived binary pays for its code on every run, resident or
// not: this kernel maps a binary 64 KiB at a time. pcr-oci, which runs once
// per container operation, formats through fmtlite instead and links no
// fmt at all (cmd/pcr-oci/deps_test.go keeps it so).
//
// What it covers: the verbs %v %s %q %d %x %X %w %%; the flags '-', '0',
// '#', ' ' and '+' where fmt gives them a meaning for those verbs; widths
// and precisions, also from '*'. Operands that implement error or
// fmt.Stringer print through those methods as in fmt; strings, byte
// slices, booleans, integers, floats, and slices of them print as fmt
// prints them, named types included. Anything else (structs, maps,
// pointers) prints as fmt's %v would only for the common cases: pcr's
// code does not format them, and `make vet` checks every call site with
// fmt's rules through -printf.funcs.
package fmtlite
