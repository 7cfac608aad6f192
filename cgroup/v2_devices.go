package cgroup

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setDevicesV2 enforces device rules the only way cgroup v2 offers: an
// eBPF program attached to the cgroup. Rules that leave every device
// allowed need no program, so hosts without BPF still run such containers.
//
// Known limit: a second Apply (an update) attaches another program next to
// the first (BPF_F_ALLOW_MULTI), and the kernel allows only what both allow.
func setDevicesV2(dir string, rules []specs.LinuxDeviceCgroup) error {
	if !needsDeviceFilter(rules) {
		return nil
	}
	insts, err := deviceFilter(rules)
	if err != nil {
		return fmt.Errorf("apply device rules to %s: build eBPF filter: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("apply device rules to %s: %w", dir, err)
	}
	defer unix.Close(fd)
	// The attachment holds its own reference to the program, so the filter
	// outlives this process and goes away with the cgroup.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, Instructions: insts, License: "Apache-2.0"})
	if err != nil {
		return fmt.Errorf("apply device rules to %s: cgroup v2 enforces device rules only through eBPF, and loading the filter failed: %w", dir, err)
	}
	defer prog.Close()
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: fd, Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	})
	if err != nil {
		return fmt.Errorf("apply device rules to %s: attach eBPF device filter: %w", dir, err)
	}
	return nil
}

// needsDeviceFilter reports whether the rules deny anything once applied in
// order on top of the default allow-all.
func needsDeviceFilter(rules []specs.LinuxDeviceCgroup) bool {
	denies := false
	for _, r := range rules {
		all := (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil && (r.Access == "" || isRWM(r.Access))
		switch {
		case all:
			denies = !r.Allow
		case !r.Allow:
			denies = true
		}
	}
	return denies
}

func isRWM(access string) bool {
	var r, w, m bool
	for _, c := range access {
		switch c {
		case 'r':
			r = true
		case 'w':
			w = true
		case 'm':
			m = true
		}
	}
	return r && w && m
}

// Access bits and device types of struct bpf_cgroup_dev_ctx.access_type
// (include/uapi/linux/bpf.h): type in the low 16 bits, access above.
const (
	devcgBlock = 1
	devcgChar  = 2
	devcgMknod = 1
	devcgRead  = 2
	devcgWrite = 4
)

// deviceFilter compiles rules into a BPF_PROG_TYPE_CGROUP_DEVICE program.
// The last matching rule decides, as the v1 devices files behave when the
// rules are written in order; no match allows, the state of a fresh cgroup.
// An allow rule matches when it grants every access asked for, a deny rule
// when it forbids any of them.
//
// pcr builds its own (about 40 lines) rather than importing containerd's
// cgroup2 package, whose init registers protobuf types and costs every pcr
// process about a millisecond on the container start path.
func deviceFilter(rules []specs.LinuxDeviceCgroup) (asm.Instructions, error) {
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // access_type
		asm.Mov.Reg32(asm.R3, asm.R2),
		asm.And.Imm32(asm.R3, 0xffff), // device type
		asm.Mov.Reg32(asm.R4, asm.R2),
		asm.RSh.Imm32(asm.R4, 16),                // requested access
		asm.LoadMem(asm.R5, asm.R1, 4, asm.Word), // major
		asm.LoadMem(asm.R6, asm.R1, 8, asm.Word), // minor
	}
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		next := fmt.Sprintf("rule%d", i-1)
		if i == 0 {
			next = "default"
		}
		var block asm.Instructions
		switch r.Type {
		case "", "a":
		case "b":
			block = append(block, asm.JNE.Imm(asm.R3, devcgBlock, next))
		case "c":
			block = append(block, asm.JNE.Imm(asm.R3, devcgChar, next))
		default:
			return nil, fmt.Errorf("device rule %d: type %q: want a, b or c", i, r.Type)
		}
		var mask int32
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		for _, c := range access {
			switch c {
			case 'r':
				mask |= devcgRead
			case 'w':
				mask |= devcgWrite
			case 'm':
				mask |= devcgMknod
			default:
				return nil, fmt.Errorf("device rule %d: access %q: want letters of rwm", i, r.Access)
			}
		}
		if mask != devcgRead|devcgWrite|devcgMknod {
			block = append(block, asm.Mov.Reg32(asm.R7, asm.R4))
			if r.Allow {
				block = append(block, asm.And.Imm32(asm.R7, ^mask&7), asm.JNE.Imm(asm.R7, 0, next))
			} else {
				block = append(block, asm.And.Imm32(asm.R7, mask), asm.JEq.Imm(asm.R7, 0, next))
			}
		}
		if r.Major != nil && *r.Major >= 0 {
			block = append(block, asm.JNE.Imm(asm.R5, int32(*r.Major), next))
		}
		if r.Minor != nil && *r.Minor >= 0 {
			block = append(block, asm.JNE.Imm(asm.R6, int32(*r.Minor), next))
		}
		verdict := int32(0)
		if r.Allow {
			verdict = 1
		}
		block = append(block, asm.Mov.Imm(asm.R0, verdict), asm.Return())
		block[0] = block[0].WithSymbol(fmt.Sprintf("rule%d", i))
		insts = append(insts, block...)
		if len(block) == 2 {
			// An unconditional verdict: the verifier rejects the
			// unreachable rules behind it.
			return insts, nil
		}
	}
	insts = append(insts, asm.Mov.Imm(asm.R0, 1).WithSymbol("default"), asm.Return())
	return insts, nil
}
