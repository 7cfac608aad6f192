package seccomp

import (
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// maxInsns is the kernel's BPF_MAXINSNS: longer classic programs are
// rejected with EINVAL.
const maxInsns = 4096

// label names a position in the program. The compiler emits jumps to labels
// and lets the assembler work out offsets, because a cBPF conditional jump
// reaches at most 255 instructions ahead and the distances are only known
// once the whole program is laid out.
type label int

// fall is the instruction right after the jump: offset 0, never far.
const fall label = -1

type insn struct {
	code   uint16
	k      uint32
	jt, jf label // conditional jumps
	to     label // BPF_JA
}

func (in insn) isCond() bool {
	return in.code&0x07 == unix.BPF_JMP && in.code&0xf0 != unix.BPF_JA
}

func (in insn) isJA() bool {
	return in.code == unix.BPF_JMP|unix.BPF_JA
}

type assembler struct {
	insns []insn
	at    []int // label → index in insns where it is bound, -1 while unbound
}

func (a *assembler) newLabel() label {
	a.at = append(a.at, -1)
	return label(len(a.at) - 1)
}

// bind places l before the next instruction emitted.
func (a *assembler) bind(l label) {
	a.at[l] = len(a.insns)
}

func (a *assembler) stmt(code uint16, k uint32) {
	a.insns = append(a.insns, insn{code: code, k: k})
}

func (a *assembler) load(offset uint32) {
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offset)
}

func (a *assembler) ret(k uint32) {
	a.stmt(unix.BPF_RET|unix.BPF_K, k)
}

// jump emits a conditional jump comparing the accumulator with k
// (op is BPF_JEQ, BPF_JGT, BPF_JGE or BPF_JSET).
func (a *assembler) jump(op uint16, k uint32, jt, jf label) {
	a.insns = append(a.insns, insn{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

func (a *assembler) ja(to label) {
	a.insns = append(a.insns, insn{code: unix.BPF_JMP | unix.BPF_JA, to: to})
}

// assemble resolves labels into offsets. A conditional branch whose target
// lies more than 255 instructions ahead is rewritten to branch to a BPF_JA
// trampoline placed right behind it (JA takes a 32-bit offset):
//
//	jeq k, far, near   →   jeq k, 0, near+1 ; ja far
//
// Each trampoline moves later code, which can push other branches out of
// range, so layout repeats until nothing changes; it only ever grows, so it
// terminates.
func (a *assembler) assemble() ([]unix.SockFilter, error) {
	for l, at := range a.at {
		if at < 0 {
			return nil, fmtlite.Errorf("internal error: seccomp label %d never bound", l)
		}
	}
	type far struct{ t, f bool }
	fars := make([]far, len(a.insns))
	addr := make([]int, len(a.insns)+1)
	target := func(l label) int { return addr[a.at[l]] }
	for {
		for i := range a.insns {
			addr[i+1] = addr[i] + 1
			if fars[i].t {
				addr[i+1]++
			}
			if fars[i].f {
				addr[i+1]++
			}
		}
		changed := false
		for i, in := range a.insns {
			if !in.isCond() {
				continue
			}
			if in.jt != fall && !fars[i].t && target(in.jt)-addr[i]-1 > 255 {
				fars[i].t, changed = true, true
			}
			if in.jf != fall && !fars[i].f && target(in.jf)-addr[i]-1 > 255 {
				fars[i].f, changed = true, true
			}
		}
		if !changed {
			break
		}
	}
	if n := addr[len(a.insns)]; n > maxInsns {
		return nil, fmtlite.Errorf("seccomp profile compiles to %d BPF instructions, over the kernel limit of %d", n, maxInsns)
	}

	prog := make([]unix.SockFilter, 0, addr[len(a.insns)])
	// offset is the jump distance from the instruction at address from,
	// which stems from a.insns[i]. fall means a.insns[i+1], past any
	// trampolines emitted for a.insns[i].
	offset := func(i, from int, l label) (int, error) {
		to := addr[i+1]
		if l != fall {
			to = target(l)
		}
		d := to - from - 1
		if d < 0 {
			return 0, fmtlite.Errorf("internal error: backward seccomp jump to label %d", l)
		}
		return d, nil
	}
	for i, in := range a.insns {
		switch {
		case in.isCond():
			f := unix.SockFilter{Code: in.code, K: in.k}
			var trampolines []label
			if fars[i].t {
				trampolines = append(trampolines, in.jt) // jt stays 0: the first trampoline
			} else {
				d, err := offset(i, addr[i], in.jt)
				if err != nil {
					return nil, err
				}
				f.Jt = uint8(d)
			}
			if fars[i].f {
				f.Jf = uint8(len(trampolines))
				trampolines = append(trampolines, in.jf)
			} else {
				d, err := offset(i, addr[i], in.jf)
				if err != nil {
					return nil, err
				}
				f.Jf = uint8(d)
			}
			prog = append(prog, f)
			for j, l := range trampolines {
				d, err := offset(i, addr[i]+1+j, l)
				if err != nil {
					return nil, err
				}
				prog = append(prog, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(d)})
			}
		case in.isJA():
			d, err := offset(i, addr[i], in.to)
			if err != nil {
				return nil, err
			}
			prog = append(prog, unix.SockFilter{Code: in.code, K: uint32(d)})
		default:
			prog = append(prog, unix.SockFilter{Code: in.code, K: in.k})
		}
	}
	return prog, nil
}
