package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// x32SyscallBit marks x32 syscalls: they reach the kernel with the
// x86_64 audit arch, so only the number tells them apart.
const x32SyscallBit = 0x40000000

// arch is one syscall ABI a filter section is compiled for.
type arch struct {
	name   specs.Arch
	audit  uint32 // seccomp_data.arch of a process using this ABI
	sysnum func(name string) (uint32, bool)
	// rejectX32 sends syscalls carrying x32SyscallBit to the bad-arch
	// action; without it an x32 process would match the x86_64 section
	// with numbers no rule ever names and bypass a deny list.
	rejectX32 bool
}

func archAMD64() arch {
	return arch{name: specs.ArchX86_64, audit: unix.AUDIT_ARCH_X86_64, sysnum: sysnumAMD64, rejectX32: true}
}

func arch386() arch {
	return arch{name: specs.ArchX86, audit: unix.AUDIT_ARCH_I386, sysnum: sysnum386}
}

func archARM64() arch {
	return arch{name: specs.ArchAARCH64, audit: unix.AUDIT_ARCH_AARCH64, sysnum: sysnumARM64}
}

func archARM() arch {
	return arch{name: specs.ArchARM, audit: unix.AUDIT_ARCH_ARM, sysnum: sysnumARM}
}

// hostArchs returns the native ABI of goarch followed by the compat ABIs its
// kernel can also run; only these can ever show up in seccomp_data.arch.
func hostArchs(goarch string) ([]arch, error) {
	switch goarch {
	case "amd64":
		return []arch{archAMD64(), arch386()}, nil
	case "386":
		return []arch{arch386()}, nil
	case "arm64":
		return []arch{archARM64(), archARM()}, nil
	case "arm":
		return []arch{archARM()}, nil
	}
	return nil, fmtlite.Errorf("seccomp is not supported by pcr on %s", goarch)
}

// knownArch reports whether name is an architecture the runtime-spec (and
// libseccomp) defines, so that a typo is an error rather than a silently
// dropped entry.
func knownArch(name specs.Arch) bool {
	switch name {
	case specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
		specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
		specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
		specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
		specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
		specs.ArchSH, specs.ArchSHEB:
		return true
	}
	return false
}

// sectionArchs picks the ABIs to compile sections for. Like libseccomp, the
// native ABI is always in the filter; listed ABIs are added when this host can
// run them. Listed ABIs it cannot run (aarch64 on an amd64 host) are dropped:
// no syscall can carry their audit value here, so a section would be dead code.
// SCMP_ARCH_X32 gets no section of its own: x32 syscalls take the bad-arch
// action, see arch.rejectX32.
func sectionArchs(goarch string, listed []specs.Arch) ([]arch, error) {
	host, err := hostArchs(goarch)
	if err != nil {
		return nil, err
	}
	want := map[specs.Arch]bool{host[0].name: true}
	for _, name := range listed {
		if !knownArch(name) {
			return nil, fmtlite.Errorf("unknown seccomp architecture %q", name)
		}
		want[name] = true
	}
	var out []arch
	for _, a := range host {
		if want[a.name] {
			out = append(out, a)
		}
	}
	return out, nil
}

// noSyscall stands in zsysnum_linux.go's tables for a name an ABI lacks.
const noSyscall = 0xffff

// lookupSysnum finds name in syscallNames by binary search and returns its
// number in table, the column of one ABI.
func lookupSysnum(table *[numSyscallNames]uint16, name string) (uint32, bool) {
	lo, hi := 0, numSyscallNames
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		start := 0
		if mid > 0 {
			start = int(syscallNameEnds[mid-1])
		}
		switch s := syscallNames[start:syscallNameEnds[mid]]; {
		case s < name:
			lo = mid + 1
		case s > name:
			hi = mid
		default:
			if table[mid] == noSyscall {
				return 0, false
			}
			return uint32(table[mid]), true
		}
	}
	return 0, false
}
