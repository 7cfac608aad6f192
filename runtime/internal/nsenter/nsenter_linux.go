//go:build linux && cgo

// Package nsenter joins existing namespaces before the Go runtime starts.
//
// The kernel refuses setns(2) into a user namespace to a multi-threaded
// process, and into a mount namespace to one whose fs struct is shared with
// other threads; a Go program has several threads before main runs, and
// LockOSThread does not help. So, like runc's libcontainer/nsenter, pcr links
// a small C constructor (nsenter.c) into its binary. It runs before the Go
// runtime on every start and does nothing unless the environment asks it to,
// which costs two getenv calls for ordinary pcr runs and test binaries.
//
// Protocol (the caller sets these in the re-exec'd process's environment;
// build them with Env):
//
//	_PCR_NSENTER  comma-separated TYPE:PATH, TYPE one of user, mnt, net, uts,
//	              ipc, pid, cgroup, time. All paths are opened first, then the
//	              user namespace is joined, then the others in the given order.
//	_PCR_UNSHARE  decimal unshare(2) flags applied after the joins;
//	              CLONE_NEWUSER is refused (the parent creates user namespaces
//	              with clone flags so it can write the ID maps).
//	_PCR_SYNCFD   fd of a pipe or socket to the caller. Left in the
//	              environment for the Go side.
//
// On failure the process writes {"type":"error","error":"nsenter: ..."} as one
// line to the sync fd (stderr when there is none) and exits 1 without ever
// starting Go.
//
// Joining a pid namespace, or unsharing CLONE_NEWPID or CLONE_NEWTIME, only
// affects children, so the constructor then forks. The parent writes
// {"type":"pid","pid":N} (N as seen from the caller's pid namespace) to the
// sync fd, closes every fd above 2 so it pins nothing the caller waits on,
// forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH to
// the child, and exits with the child's status or re-raises its signal. The
// child waits until the pid line is written, then runs Go. A joined time
// namespace applies at once and needs no fork.
//
// The child gets no PR_SET_PDEATHSIG: the caller holds the real pid and
// manages the process through it, and the death of the waiting parent (OOM
// killer, a stray SIGKILL) must not take the workload with it. Pdeathsig would
// also survive into the payload's execve.
//
// After a mount namespace join the process's root and working directory are
// those of the namespace's root; the Go side must chdir where it wants to be.
//
// _PCR_NSENTER and _PCR_UNSHARE are blanked once used so they neither leak
// into a payload that inherits os.Environ nor act again on a re-exec. They
// are blanked in place, not unsetenv(3)'d: Go locates the auxiliary vector
// right after the original envp array, so the array must keep its length;
// syscall.Environ skips the resulting empty entries.
package nsenter

// #cgo CFLAGS: -Wall -Wextra -Wno-missing-field-initializers
import "C"

// ConstructorLinked: this binary runs nsenter.c (and fastinit.c) when it
// starts, so it can be re-exec'd as a container's init or exec child that
// joins namespaces or takes a plan.
const ConstructorLinked = true
