package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// seccompData mirrors struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], d.nr)
	binary.LittleEndian.PutUint32(b[4:], d.arch)
	for i, a := range d.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// runFilter executes prog the way the kernel's seccomp cBPF interpreter
// would, for the instructions the compiler emits. Anything else, a jump out
// of the program or running off its end is an error, as the kernel's
// verifier would reject such a program.
func runFilter(prog []unix.SockFilter, d seccompData) (uint32, error) {
	ret, _, err := runFilterSteps(prog, d)
	return ret, err
}

// runFilterSteps is runFilter that also counts the instructions executed.
func runFilterSteps(prog []unix.SockFilter, d seccompData) (ret uint32, steps int, err error) {
	data := d.bytes()
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		steps++
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || int(in.K)+4 > len(data) {
				return 0, steps, fmt.Errorf("pc %d: bad load offset %d", pc, in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K, steps, nil
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var cond bool
			switch in.Code & 0xf0 {
			case unix.BPF_JEQ:
				cond = acc == in.K
			case unix.BPF_JGT:
				cond = acc > in.K
			case unix.BPF_JGE:
				cond = acc >= in.K
			case unix.BPF_JSET:
				cond = acc&in.K != 0
			}
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			return 0, steps, fmt.Errorf("pc %d: unsupported instruction %#x", pc, in.Code)
		}
		if pc+1 >= len(prog) {
			return 0, steps, fmt.Errorf("pc %d: jump past the end of a %d-instruction program", pc, len(prog))
		}
	}
	return 0, steps, fmt.Errorf("ran off the end of the program")
}

// checkJumps verifies every jump target lies inside prog, the check the
// kernel's sk_chk_filter does before accepting a filter.
func checkJumps(prog []unix.SockFilter) error {
	if len(prog) > maxInsns {
		return fmt.Errorf("%d instructions, over %d", len(prog), maxInsns)
	}
	for pc, in := range prog {
		if in.Code&0x07 != unix.BPF_JMP {
			continue
		}
		if in.Code == unix.BPF_JMP|unix.BPF_JA {
			if pc+1+int(in.K) >= len(prog) {
				return fmt.Errorf("pc %d: ja %d out of range", pc, in.K)
			}
			continue
		}
		if pc+1+int(in.Jt) >= len(prog) || pc+1+int(in.Jf) >= len(prog) {
			return fmt.Errorf("pc %d: jt %d / jf %d out of range", pc, in.Jt, in.Jf)
		}
	}
	if last := prog[len(prog)-1]; last.Code != unix.BPF_RET|unix.BPF_K {
		return fmt.Errorf("last instruction %#x is not a return", last.Code)
	}
	return nil
}
