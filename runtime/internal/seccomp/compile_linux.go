package seccomp

// Compile turns an OCI seccomp profile into one classic BPF program. Its layout:
//
//	   ld  seccomp_data.arch
//	   jeq AUDIT_ARCH_<native>  → section 0      one test per ABI section
//	   jeq AUDIT_ARCH_<compat>  → section 1      (compat only if listed)
//	   ret KILL_THREAD                           bad arch, as libseccomp
//	section N:
//	   ld  seccomp_data.nr
//	   jge 0x40000000 → ret KILL_THREAD          x86_64 only: x32 ABI
//	   jge nr_m → right half                     binary search over spans of
//	   jge nr_l → …                              numbers with one target: a
//	   …                                         shared ret for the syscalls
//	   (leaves jump to their target)             with one unconditional rule,
//	                                             a rule block for the others,
//	                                             the default ret for the gaps
//	   pool: ret <default>; ret ALLOW; …         one ret per action
//	   block b:
//	     rule 1: arg tests, each failing to rule 2
//	             ret <rule 1 action>
//	     rule 2: …
//	     ret <default action>                    no rule matched
//
// Rules for one syscall are tried in profile order and the first one whose
// argument tests all pass decides, so an unconditional rule ends its block and
// trailing rules with the default action are dropped. Argument tests compare
// the 64-bit value as two 32-bit words (cBPF has a 32-bit accumulator): the
// high word decides unless it is equal, then the low word does. Jumps are
// emitted against labels; see assembler for the 8-bit offset limit.

import (
	"errors"
	"runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
)

// ErrNotifyNotSupported is returned for profiles using SCMP_ACT_NOTIFY or a
// listenerPath: pcr has no seccomp agent plumbing.
var ErrNotifyNotSupported = errors.New("seccomp notify is not supported by pcr")

// Offsets into struct seccomp_data. Every ABI pcr builds sections for is
// little-endian, so the low word of args[i] comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
	maxArgs = 6
)

type rule struct {
	action uint32
	args   []specs.LinuxSeccompArg // all must match
}

// Compile turns the spec profile into a BPF program for the native
// architecture. Syscall names this architecture does not have are skipped,
// like runc does with libseccomp.
func Compile(p *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	return compile(p, runtime.GOARCH)
}

func compile(p *specs.LinuxSeccomp, goarch string) ([]unix.SockFilter, error) {
	if p == nil {
		return nil, errors.New("compile seccomp profile: no profile")
	}
	if p.ListenerPath != "" {
		return nil, fmtlite.Errorf("seccomp listenerPath %q: %w", p.ListenerPath, ErrNotifyNotSupported)
	}
	defAction, err := actionValue(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmtlite.Errorf("seccomp defaultAction: %w", err)
	}
	archs, err := sectionArchs(goarch, p.Architectures)
	if err != nil {
		return nil, err
	}
	type entry struct {
		names []string
		rules []rule
	}
	entries := make([]entry, 0, len(p.Syscalls))
	for i, sc := range p.Syscalls {
		rules, err := syscallRules(sc)
		if err != nil {
			return nil, fmtlite.Errorf("seccomp syscalls[%d] %v: %w", i, sc.Names, err)
		}
		entries = append(entries, entry{names: sc.Names, rules: rules})
	}

	asm := &assembler{}
	sections := make([]label, len(archs))
	asm.load(offArch)
	for i, a := range archs {
		sections[i] = asm.newLabel()
		asm.jump(unix.BPF_JEQ, a.audit, sections[i], fall)
	}
	asm.ret(unix.SECCOMP_RET_KILL_THREAD)

	for i, a := range archs {
		byNr := map[uint32][]rule{}
		for _, e := range entries {
			for _, name := range e.names {
				if nr, ok := a.sysnum(name); ok {
					byNr[nr] = append(byNr[nr], e.rules...)
				}
			}
		}
		asm.bind(sections[i])
		emitSection(asm, a, byNr, defAction)
	}
	return asm.assemble()
}

// syscallRules validates one profile entry. Like runc, an entry that tests the
// same argument twice becomes one rule per test (ORed): ANDing two tests of
// one argument is rarely satisfiable, and profiles written for runc rely on it.
func syscallRules(sc specs.LinuxSyscall) ([]rule, error) {
	action, err := actionValue(sc.Action, sc.ErrnoRet)
	if err != nil {
		return nil, err
	}
	seen := map[uint]bool{}
	repeated := false
	for _, arg := range sc.Args {
		if arg.Index >= maxArgs {
			return nil, fmtlite.Errorf("argument index %d out of range (max %d)", arg.Index, maxArgs-1)
		}
		if !knownOp(arg.Op) {
			return nil, fmtlite.Errorf("unknown seccomp operator %q", arg.Op)
		}
		repeated = repeated || seen[arg.Index]
		seen[arg.Index] = true
	}
	if !repeated {
		return []rule{{action: action, args: sc.Args}}, nil
	}
	rules := make([]rule, 0, len(sc.Args))
	for _, arg := range sc.Args {
		rules = append(rules, rule{action: action, args: []specs.LinuxSeccompArg{arg}})
	}
	return rules, nil
}

// actionValue maps a spec action to its SECCOMP_RET_* value. Like runc,
// ERRNO and TRACE carry errnoRet, EPERM when unset.
func actionValue(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := func() (uint32, error) {
		if errnoRet == nil {
			return uint32(unix.EPERM), nil
		}
		if *errnoRet > unix.SECCOMP_RET_DATA {
			return 0, fmtlite.Errorf("%s: errnoRet %d does not fit in 16 bits", act, *errnoRet)
		}
		return uint32(*errnoRet), nil
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActErrno:
		d, err := data()
		return unix.SECCOMP_RET_ERRNO | d, err
	case specs.ActTrace:
		d, err := data()
		return unix.SECCOMP_RET_TRACE | d, err
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return 0, fmtlite.Errorf("%s: %w", act, ErrNotifyNotSupported)
	}
	return 0, fmtlite.Errorf("unknown seccomp action %q", act)
}

func knownOp(op specs.LinuxSeccompOperator) bool {
	switch op {
	case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
		specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
		return true
	}
	return false
}

// reachableRules drops what can never change the outcome: rules after an
// unconditional one, and trailing rules whose action is the default anyway.
func reachableRules(rules []rule, defAction uint32) []rule {
	for i, r := range rules {
		if len(r.args) == 0 {
			rules = rules[:i+1]
			break
		}
	}
	for len(rules) > 0 && rules[len(rules)-1].action == defAction {
		rules = rules[:len(rules)-1]
	}
	return rules
}

func emitSection(asm *assembler, a arch, byNr map[uint32][]rule, defAction uint32) {
	asm.load(offNr)
	if a.rejectX32 {
		native := asm.newLabel()
		asm.jump(unix.BPF_JGE, x32SyscallBit, fall, native)
		asm.ret(unix.SECCOMP_RET_KILL_THREAD)
		asm.bind(native)
	}

	nrs := make([]uint32, 0, len(byNr))
	for nr, rules := range byNr {
		rules = reachableRules(rules, defAction)
		if len(rules) == 0 {
			delete(byNr, nr)
			continue
		}
		byNr[nr] = rules
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })

	// Every nr gets a target: the shared ret of its action when one
	// unconditional rule decides it, else its own rule block.
	blocks := map[uint32]label{}
	pool := map[uint32]label{}
	var poolOrder []uint32
	retLabel := func(act uint32) label {
		l, ok := pool[act]
		if !ok {
			l = asm.newLabel()
			pool[act] = l
			poolOrder = append(poolOrder, act)
		}
		return l
	}
	def := retLabel(defAction)
	targets := make([]label, len(nrs))
	for i, nr := range nrs {
		rules := byNr[nr]
		if len(rules) == 1 && len(rules[0].args) == 0 {
			targets[i] = retLabel(rules[0].action)
			continue
		}
		blocks[nr] = asm.newLabel()
		targets[i] = blocks[nr]
	}
	emitSearch(asm, nrSpans(nrs, targets, def))
	for _, act := range poolOrder {
		asm.bind(pool[act])
		asm.ret(act)
	}

	for _, nr := range nrs {
		blk, ok := blocks[nr]
		if !ok {
			continue
		}
		asm.bind(blk)
		rules := byNr[nr]
		for _, r := range rules {
			nextRule := asm.newLabel()
			for _, arg := range r.args {
				emitArgTest(asm, arg, nextRule)
			}
			asm.ret(r.action)
			asm.bind(nextRule)
		}
		if len(rules[len(rules)-1].args) > 0 {
			asm.ret(defAction)
		}
	}
}

// span: the syscall numbers from lo up to the next span's lo go to to.
type span struct {
	lo uint32
	to label
}

// nrSpans turns the sorted nrs and their targets into spans covering every
// number, runs of neighbours with one target merged, the gaps going to def.
// A profile that allows most syscalls becomes a few dozen spans.
func nrSpans(nrs []uint32, targets []label, def label) []span {
	spans := []span{{lo: 0, to: def}}
	next := uint32(0) // the first number after the last one placed
	for i, nr := range nrs {
		if nr > next && spans[len(spans)-1].to != def {
			spans = append(spans, span{lo: next, to: def})
		}
		if spans[len(spans)-1].to != targets[i] {
			spans = append(spans, span{lo: nr, to: targets[i]})
		}
		next = nr + 1
	}
	if spans[len(spans)-1].to != def && next != 0 {
		spans = append(spans, span{lo: next, to: def})
	}
	return spans
}

// emitSearch dispatches on the nr in the accumulator by binary search over
// the spans: about log2(spans) tests per syscall instead of one per listed
// syscall. That is what the container pays on each syscall the kernel's
// seccomp cache cannot decide, and what the kernel pays for every syscall
// number when it builds that cache at load time (it emulates the filter).
func emitSearch(asm *assembler, spans []span) {
	if len(spans) == 1 {
		asm.ja(spans[0].to)
		return
	}
	mid := len(spans) / 2
	left, right := spans[:mid], spans[mid:]
	jt, jf := right[0].to, left[0].to
	if len(right) > 1 {
		jt = asm.newLabel()
	}
	if len(left) > 1 {
		jf = fall
	}
	asm.jump(unix.BPF_JGE, right[0].lo, jt, jf)
	if len(left) > 1 {
		emitSearch(asm, left)
	}
	if len(right) > 1 {
		asm.bind(jt)
		emitSearch(asm, right)
	}
}

// emitArgTest falls through when arg matches and jumps to fail otherwise.
// Comparisons are unsigned, as in libseccomp.
func emitArgTest(asm *assembler, arg specs.LinuxSeccompArg, fail label) {
	lo := uint32(offArgs + 8*arg.Index)
	hi := lo + 4
	vLo, vHi := uint32(arg.Value), uint32(arg.Value>>32)
	pass := asm.newLabel()
	switch arg.Op {
	case specs.OpEqualTo:
		asm.load(hi)
		asm.jump(unix.BPF_JEQ, vHi, fall, fail)
		asm.load(lo)
		asm.jump(unix.BPF_JEQ, vLo, fall, fail)
	case specs.OpNotEqual:
		asm.load(hi)
		asm.jump(unix.BPF_JEQ, vHi, fall, pass)
		asm.load(lo)
		asm.jump(unix.BPF_JEQ, vLo, fail, fall)
	case specs.OpMaskedEqual:
		// value is the mask and valueTwo the expected result, as in
		// libseccomp's SCMP_CMP_MASKED_EQ.
		want := arg.ValueTwo
		asm.load(hi)
		asm.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, vHi)
		asm.jump(unix.BPF_JEQ, uint32(want>>32), fall, fail)
		asm.load(lo)
		asm.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, vLo)
		asm.jump(unix.BPF_JEQ, uint32(want), fall, fail)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		asm.load(hi)
		asm.jump(unix.BPF_JGT, vHi, pass, fall)
		asm.jump(unix.BPF_JEQ, vHi, fall, fail)
		asm.load(lo)
		if arg.Op == specs.OpGreaterThan {
			asm.jump(unix.BPF_JGT, vLo, fall, fail)
		} else {
			asm.jump(unix.BPF_JGE, vLo, fall, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		asm.load(hi)
		asm.jump(unix.BPF_JGT, vHi, fail, fall)
		asm.jump(unix.BPF_JEQ, vHi, fall, pass)
		asm.load(lo)
		if arg.Op == specs.OpLessThan {
			asm.jump(unix.BPF_JGE, vLo, fail, fall)
		} else {
			asm.jump(unix.BPF_JGT, vLo, fail, fall)
		}
	}
	asm.bind(pass)
}
