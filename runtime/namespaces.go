package runtime

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

var namespaceFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// nsName is the name under /proc/<pid>/ns/ and in the nsenter protocol.
var nsName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace:     "pid",
	specs.MountNamespace:   "mnt",
	specs.NetworkNamespace: "net",
	specs.UTSNamespace:     "uts",
	specs.IPCNamespace:     "ipc",
	specs.UserNamespace:    "user",
	specs.CgroupNamespace:  "cgroup",
	specs.TimeNamespace:    "time",
}

// nsPlan says how the init gets each namespace. Go can setns() net, uts,
// ipc, pid and cgroup from a locked thread of the parent, and the child
// inherits them; mount and user namespaces can only be joined by a
// single-threaded process, which is the job of the nsenter constructor.
type nsPlan struct {
	cloneFlags   uintptr           // new namespaces made by clone()
	parentJoins  map[string]string // setns in the parent's locked thread
	childJoins   [][2]string       // setns in the C constructor (type, path)
	childUnshare uintptr           // unshare in the C constructor after its joins
	newCgroupNS  bool              // unshared by init once inside its cgroup
	newUserNS    bool
}

func planNamespaces(s *specs.Spec) (nsPlan, error) {
	p := nsPlan{parentJoins: map[string]string{}}
	joinUser := nsPath(s, specs.UserNamespace) != ""
	for _, ns := range s.Linux.Namespaces {
		name := nsName[ns.Type]
		if ns.Path != "" {
			if _, err := os.Stat(ns.Path); err != nil {
				return p, fmtlite.Errorf("namespace %s path: %w", name, err)
			}
			switch ns.Type {
			case specs.UserNamespace, specs.MountNamespace:
				p.childJoins = append(p.childJoins, [2]string{name, ns.Path})
			default:
				p.parentJoins[name] = ns.Path
			}
			continue
		}
		switch ns.Type {
		case specs.CgroupNamespace:
			// Made by init after it is in its cgroup, so the namespace's
			// root is the container's cgroup, not the caller's.
			p.newCgroupNS = true
		case specs.UserNamespace:
			p.newUserNS = true
			p.cloneFlags |= unix.CLONE_NEWUSER
		case specs.PIDNamespace, specs.TimeNamespace:
			// These apply to children only: clone() makes them, or, when a
			// user namespace is joined, the constructor unshares and forks
			// so they belong to that user namespace (procfs needs it).
			if joinUser {
				p.childUnshare |= namespaceFlags[ns.Type]
			} else {
				p.cloneFlags |= namespaceFlags[ns.Type]
			}
		default:
			if joinUser {
				// New namespaces must belong to the joined user namespace,
				// so they are made after joining it, in the constructor.
				p.childUnshare |= namespaceFlags[ns.Type]
			} else {
				p.cloneFlags |= namespaceFlags[ns.Type]
			}
		}
	}
	return p, nil
}
