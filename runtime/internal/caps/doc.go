// Package caps names Linux capabilities and sets a thread's capability sets.
//
// It replaces github.com/moby/sys/capability in the container init, keeping
// that package's semantics for the few operations pcr uses, because that
// package (like encoding/hex) links the fmt package into pcr-oci, and fmt
// costs resident memory in every container start. For the same reason this
// package must import nothing beyond errors, strconv, strings, os, io/fs and
// golang.org/x/sys/unix.
package caps
