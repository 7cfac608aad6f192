// Package seccomp compiles an OCI seccomp profile into a classic BPF program
// and installs it, without libseccomp: pcr is linked statically.
package seccomp

//go:generate go run ./internal/mksysnum -o zsysnum_linux.go
