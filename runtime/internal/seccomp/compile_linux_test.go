package seccomp

import (
	"bufio"
	"errors"
	"math/bits"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retKill  = unix.SECCOMP_RET_KILL_THREAD
)

func retErrno(e uint32) uint32 { return unix.SECCOMP_RET_ERRNO | e }

func uintp(v uint) *uint { return &v }

// mustCompile compiles p for goarch and checks the result is a program the
// kernel would accept.
func mustCompile(t *testing.T, p *specs.LinuxSeccomp, goarch string) []unix.SockFilter {
	t.Helper()
	prog, err := compile(p, goarch)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if err := checkJumps(prog); err != nil {
		t.Fatalf("compiled program is invalid: %v", err)
	}
	return prog
}

func expectRet(t *testing.T, prog []unix.SockFilter, d seccompData, want uint32) {
	t.Helper()
	got, err := runFilter(prog, d)
	if err != nil {
		t.Fatalf("run filter on nr %d arch %#x args %#x: %v", d.nr, d.arch, d.args, err)
	}
	if got != want {
		t.Errorf("nr %d arch %#x args %#x: got %#x, want %#x", d.nr, d.arch, d.args, got, want)
	}
}

func amd64Call(nr uint32, args ...uint64) seccompData {
	d := seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64}
	copy(d.args[:], args)
	return d
}

func TestDenyMkdirWithDefaultAllow(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
		},
	}
	prog := mustCompile(t, p, "amd64")
	expectRet(t, prog, amd64Call(unix.SYS_MKDIR), retErrno(uint32(unix.EPERM)))
	expectRet(t, prog, amd64Call(unix.SYS_MKDIRAT), retErrno(uint32(unix.EPERM)))
	expectRet(t, prog, amd64Call(unix.SYS_READ), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_RMDIR), retAllow)

	// i386 is listed, so its numbers get their own section: mkdir is 39
	// there, and 83 (mkdir on x86_64) is symlink.
	expectRet(t, prog, seccompData{nr: 39, arch: unix.AUDIT_ARCH_I386}, retErrno(uint32(unix.EPERM)))
	expectRet(t, prog, seccompData{nr: 83, arch: unix.AUDIT_ARCH_I386}, retAllow)

	// x32 shares the x86_64 audit arch; its numbers must not slip past a
	// deny list by not matching any rule.
	expectRet(t, prog, amd64Call(x32SyscallBit|unix.SYS_MKDIR), retKill)
	expectRet(t, prog, amd64Call(x32SyscallBit|unix.SYS_READ), retKill)
}

func TestUnlistedArchIsKilled(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}},
	}
	prog := mustCompile(t, p, "amd64")
	expectRet(t, prog, amd64Call(unix.SYS_GETPID), retAllow)
	expectRet(t, prog, seccompData{nr: 20, arch: unix.AUDIT_ARCH_I386}, retKill)
	expectRet(t, prog, seccompData{nr: 20, arch: unix.AUDIT_ARCH_AARCH64}, retKill)

	// No architectures at all still means the native one.
	p.Architectures = nil
	prog = mustCompile(t, p, "amd64")
	expectRet(t, prog, amd64Call(unix.SYS_MKDIR), retErrno(uint32(unix.EPERM)))
	expectRet(t, prog, seccompData{nr: 39, arch: unix.AUDIT_ARCH_I386}, retKill)
}

// match evaluates arg the way libseccomp defines it, as the reference the
// compiled BPF is checked against.
func match(arg specs.LinuxSeccompArg, v uint64) bool {
	switch arg.Op {
	case specs.OpEqualTo:
		return v == arg.Value
	case specs.OpNotEqual:
		return v != arg.Value
	case specs.OpLessThan:
		return v < arg.Value
	case specs.OpLessEqual:
		return v <= arg.Value
	case specs.OpGreaterThan:
		return v > arg.Value
	case specs.OpGreaterEqual:
		return v >= arg.Value
	case specs.OpMaskedEqual:
		return v&arg.Value == arg.ValueTwo
	}
	panic("unknown op " + arg.Op)
}

func TestArgComparisons64Bit(t *testing.T) {
	ops := []specs.LinuxSeccompOperator{
		specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual,
	}
	// Values around the reference differing in the low word, the high word,
	// or both, so a comparison of one half alone gets some of them wrong.
	const ref = 0x0000_0001_8000_0005
	inputs := []uint64{
		0, 5, 0x8000_0005, 0x8000_0004, 0x8000_0006, 0xffff_ffff,
		ref - 1, ref, ref + 1, 0x1_0000_0000, 0x1_ffff_ffff, 0x2_0000_0000,
		0x2_8000_0005, 0x0_8000_0005, 0x1_0000_0005, 0xffff_ffff_ffff_ffff,
	}
	var args []specs.LinuxSeccompArg
	for _, op := range ops {
		args = append(args, specs.LinuxSeccompArg{Index: 3, Value: ref, Op: op})
	}
	args = append(args,
		specs.LinuxSeccompArg{Index: 3, Value: 0xff00_0000_0000_00ff, ValueTwo: 0x1200_0000_0000_0034, Op: specs.OpMaskedEqual},
		specs.LinuxSeccompArg{Index: 3, Value: 0x0000_0001_0000_0000, ValueTwo: 0x0000_0001_0000_0000, Op: specs.OpMaskedEqual},
		specs.LinuxSeccompArg{Index: 3, Value: 0xffff_ffff, ValueTwo: 5, Op: specs.OpMaskedEqual},
	)
	inputs = append(inputs, 0x1200_0000_0000_0034, 0x12ab_cdef_0000_1234, 0x1300_0000_0000_0034, 0x1200_0000_0000_0035)

	for _, arg := range args {
		p := &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{
				Names: []string{"pwrite64"}, Action: specs.ActErrno, ErrnoRet: uintp(99),
				Args: []specs.LinuxSeccompArg{arg},
			}},
		}
		prog := mustCompile(t, p, "amd64")
		for _, v := range inputs {
			want := uint32(retAllow)
			if match(arg, v) {
				want = retErrno(99)
			}
			got, err := runFilter(prog, amd64Call(unix.SYS_PWRITE64, 0, 0, 0, v))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s %#x (two %#x) on %#x: got %#x, want %#x", arg.Op, arg.Value, arg.ValueTwo, v, got, want)
			}
		}
		// Another argument slot with the same value must not be tested.
		if !match(arg, 0) {
			expectRet(t, prog, amd64Call(unix.SYS_PWRITE64, inputs[7], inputs[7], inputs[7], 0, inputs[7]), retAllow)
		}
	}
}

func TestRulesFirstMatchWinsAndArgsAreANDed(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(5), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 1, Op: specs.OpEqualTo},
				{Index: 2, Value: 10, Op: specs.OpGreaterThan},
			}},
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(6), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 2, Op: specs.OpEqualTo},
			}},
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(7)},
			{Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: uintp(8), Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 3, Op: specs.OpEqualTo},
			}},
		},
	}
	prog := mustCompile(t, p, "amd64")
	expectRet(t, prog, amd64Call(unix.SYS_WRITE, 1, 0, 11), retErrno(5))
	expectRet(t, prog, amd64Call(unix.SYS_WRITE, 1, 0, 10), retErrno(7)) // second test fails
	expectRet(t, prog, amd64Call(unix.SYS_WRITE, 0, 0, 11), retErrno(7)) // first test fails
	expectRet(t, prog, amd64Call(unix.SYS_WRITE, 2, 0, 11), retErrno(6))
	expectRet(t, prog, amd64Call(unix.SYS_WRITE, 3), retErrno(7)) // shadowed by the unconditional rule
	expectRet(t, prog, amd64Call(unix.SYS_READ, 1, 0, 11), retAllow)
}

func TestRepeatedArgIndexIsORed(t *testing.T) {
	// runc splits an entry testing one argument twice into one rule per
	// test; profiles such as Docker's rely on that.
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo},
				{Index: 0, Value: 8, Op: specs.OpEqualTo},
			},
		}},
	}
	prog := mustCompile(t, p, "amd64")
	expectRet(t, prog, amd64Call(unix.SYS_PERSONALITY, 0), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_PERSONALITY, 8), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_PERSONALITY, 4), retErrno(uint32(unix.EPERM)))
}

func TestActions(t *testing.T) {
	cases := []struct {
		action   specs.LinuxSeccompAction
		errnoRet *uint
		want     uint32
	}{
		{specs.ActKill, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillThread, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillProcess, nil, unix.SECCOMP_RET_KILL_PROCESS},
		{specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{specs.ActErrno, nil, retErrno(uint32(unix.EPERM))},
		{specs.ActErrno, uintp(38), retErrno(38)},
		{specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{specs.ActTrace, uintp(7), unix.SECCOMP_RET_TRACE | 7},
		{specs.ActAllow, nil, unix.SECCOMP_RET_ALLOW},
		{specs.ActLog, nil, unix.SECCOMP_RET_LOG},
	}
	for _, c := range cases {
		p := &specs.LinuxSeccomp{
			DefaultAction:   specs.ActErrno,
			DefaultErrnoRet: uintp(22),
			Syscalls:        []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: c.action, ErrnoRet: c.errnoRet}},
		}
		prog := mustCompile(t, p, "amd64")
		expectRet(t, prog, amd64Call(unix.SYS_GETPID), c.want)
		expectRet(t, prog, amd64Call(unix.SYS_GETPPID), retErrno(22))

		// The same action as the default action decides too.
		p = &specs.LinuxSeccomp{DefaultAction: c.action, DefaultErrnoRet: c.errnoRet}
		prog = mustCompile(t, p, "amd64")
		expectRet(t, prog, amd64Call(unix.SYS_GETPID), c.want)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		p    specs.LinuxSeccomp
		want string
	}{
		{"notify action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: specs.ActNotify}}}, "seccomp notify is not supported by pcr"},
		{"listener path", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"},
			"seccomp notify is not supported by pcr"},
		{"unknown default action", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"}, `"SCMP_ACT_MAYBE"`},
		{"unknown rule action", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: "SCMP_ACT_NOPE"}}}, `unknown seccomp action "SCMP_ACT_NOPE"`},
		{"unknown op", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ROUGHLY"}}}}},
			`unknown seccomp operator "SCMP_CMP_ROUGHLY"`},
		{"arg index", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
			"argument index 6 out of range"},
		{"unknown arch", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}},
			`unknown seccomp architecture "SCMP_ARCH_Z80"`},
		{"errno too big", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(70000)}, "does not fit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := compile(&c.p, "amd64")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
	_, err := compile(&specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "amd64")
	if !errors.Is(err, ErrNotifyNotSupported) {
		t.Errorf("notify default action: got %v, want ErrNotifyNotSupported", err)
	}
}

func dockerLikeProfile(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	p, err := readDockerLikeProfile()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readDockerLikeProfile builds a profile shaped like Docker's default: a
// long allow list, default ERRNO, and a few argument-filtered entries.
func readDockerLikeProfile() (*specs.LinuxSeccomp, error) {
	f, err := os.Open("testdata/docker-default-names.txt")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(uint(unix.EPERM)),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:        []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}
	for _, persona := range []uint64{0, 8, 131072, 131080, 4294967295} {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: persona, Op: specs.OpEqualTo}},
		})
	}
	p.Syscalls = append(p.Syscalls,
		specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 0, Value: 2114060288, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
		specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))},
		specs.LinuxSyscall{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 0, Value: unix.AF_VSOCK, Op: specs.OpNotEqual}}},
	)
	return p, nil
}

func TestDockerSizedProfile(t *testing.T) {
	p := dockerLikeProfile(t)
	prog := mustCompile(t, p, "amd64")
	t.Logf("Docker-like profile (%d names): %d instructions", len(p.Syscalls[0].Names), len(prog))
	if len(prog) > 1500 {
		t.Errorf("Docker-like profile takes %d instructions; the layout should keep it near 2 per syscall and ABI", len(prog))
	}
	eperm := retErrno(uint32(unix.EPERM))
	expectRet(t, prog, amd64Call(unix.SYS_READ), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_WRITEV), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_ARCH_PRCTL), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_NEWFSTATAT), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_RSEQ), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_MOUNT), eperm)
	expectRet(t, prog, amd64Call(unix.SYS_KEXEC_LOAD), eperm)
	expectRet(t, prog, amd64Call(unix.SYS_PTRACE), eperm)
	expectRet(t, prog, amd64Call(1000), eperm)
	expectRet(t, prog, amd64Call(unix.SYS_PERSONALITY, 8), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_PERSONALITY, 4294967295), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_PERSONALITY, 1), eperm)
	expectRet(t, prog, amd64Call(unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_THREAD|uint64(unix.SIGCHLD)), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_CLONE, unix.CLONE_NEWNS|uint64(unix.SIGCHLD)), eperm)
	expectRet(t, prog, amd64Call(unix.SYS_CLONE3), retErrno(uint32(unix.ENOSYS)))
	expectRet(t, prog, amd64Call(unix.SYS_SOCKET, unix.AF_INET), retAllow)
	expectRet(t, prog, amd64Call(unix.SYS_SOCKET, unix.AF_VSOCK), eperm)
	// i386 numbers: 3 read, 140 _llseek, 192 mmap2, 26 ptrace.
	for _, nr := range []uint32{3, 140, 192} {
		expectRet(t, prog, seccompData{nr: nr, arch: unix.AUDIT_ARCH_I386}, retAllow)
	}
	expectRet(t, prog, seccompData{nr: 26, arch: unix.AUDIT_ARCH_I386}, eperm)
	expectRet(t, prog, amd64Call(x32SyscallBit|unix.SYS_READ), retKill)

	progARM64 := mustCompile(t, p, "arm64")
	// aarch64 has no mkdir, only mkdirat (34); arm (32-bit) is not listed.
	expectRet(t, progARM64, seccompData{nr: 34, arch: unix.AUDIT_ARCH_AARCH64}, retAllow)
	expectRet(t, progARM64, seccompData{nr: 40, arch: unix.AUDIT_ARCH_AARCH64}, eperm) // mount
	expectRet(t, progARM64, seccompData{nr: 34, arch: unix.AUDIT_ARCH_ARM}, retKill)
}

// TestDispatchIsBinarySearch checks every syscall number of both ABIs
// against the profile, and that none takes more than a binary search's
// number of tests: the kernel runs the filter for every number when it
// builds its seccomp cache at load time, and the container on each call.
func TestDispatchIsBinarySearch(t *testing.T) {
	p := dockerLikeProfile(t)
	prog := mustCompile(t, p, "amd64")
	argFiltered := map[string]bool{"personality": true, "clone": true, "clone3": true, "socket": true}
	for _, abi := range []struct {
		arch   uint32
		sysnum func(string) (uint32, bool)
	}{
		{unix.AUDIT_ARCH_X86_64, sysnumAMD64},
		{unix.AUDIT_ARCH_I386, sysnum386},
	} {
		allowed, skip := map[uint32]bool{}, map[uint32]bool{}
		for _, name := range p.Syscalls[0].Names {
			if nr, ok := abi.sysnum(name); ok {
				allowed[nr] = true
				skip[nr] = skip[nr] || argFiltered[name]
			}
		}
		for name := range argFiltered {
			if nr, ok := abi.sysnum(name); ok {
				skip[nr] = true
			}
		}
		maxSteps := 0
		for nr := uint32(0); nr < 1100; nr++ {
			if skip[nr] {
				continue
			}
			want := retErrno(uint32(unix.EPERM))
			if allowed[nr] {
				want = retAllow
			}
			got, steps, err := runFilterSteps(prog, seccompData{nr: nr, arch: abi.arch})
			if err != nil {
				t.Fatalf("arch %#x nr %d: %v", abi.arch, nr, err)
			}
			if got != want {
				t.Errorf("arch %#x nr %d: got %#x, want %#x", abi.arch, nr, got, want)
			}
			maxSteps = max(maxSteps, steps)
		}
		// arch tests, the nr load, the x32 test, ~log2(spans) jumps, ret.
		if limit := 5 + 2*bits.Len(uint(len(allowed))); maxSteps > limit {
			t.Errorf("arch %#x: a syscall takes %d instructions, over a binary search's %d", abi.arch, maxSteps, limit)
		}
		t.Logf("arch %#x: at most %d instructions per syscall, %d in the program", abi.arch, maxSteps, len(prog))
	}
}

// TestFarJumps makes every rule block lie far beyond the 255-instruction
// reach of a conditional jump, so dispatch only works through trampolines.
func TestFarJumps(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(1)}
	var tested []uint32
	for _, name := range dockerLikeProfile(t).Syscalls[0].Names {
		nr, ok := sysnumAMD64(name)
		if !ok {
			continue
		}
		tested = append(tested, nr)
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names: []string{name}, Action: specs.ActErrno, ErrnoRet: uintp(uint(1000 + nr)),
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: uint64(nr) << 33, Op: specs.OpEqualTo}},
		})
	}
	prog := mustCompile(t, p, "amd64")
	far := 0
	for _, in := range prog {
		if in.Code == unix.BPF_JMP|unix.BPF_JA && in.K > 255 {
			far++
		}
	}
	if far == 0 {
		t.Fatalf("%d-instruction program has no long jumps; the test no longer exercises trampolines", len(prog))
	}
	for _, nr := range tested {
		expectRet(t, prog, amd64Call(nr, 0, uint64(nr)<<33), retErrno(1000+nr))
		expectRet(t, prog, amd64Call(nr, 0, uint64(nr)<<33|1), retErrno(1))
	}
}

func TestOverLongProfileIsRejected(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	var args []specs.LinuxSeccompArg
	for i := 0; i < 6; i++ {
		args = append(args, specs.LinuxSeccompArg{Index: uint(i), Value: 1 << 40, Op: specs.OpLessThan})
	}
	for i := 0; i < 200; i++ {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActErrno, Args: args})
	}
	_, err := compile(p, "amd64")
	if err == nil || !strings.Contains(err.Error(), "over the kernel limit of 4096") {
		t.Fatalf("got %v, want an instruction limit error", err)
	}
}

func TestSyscallTable(t *testing.T) {
	cases := []struct {
		fn   func(string) (uint32, bool)
		name string
		nr   uint32
		ok   bool
	}{
		{sysnumAMD64, "read", 0, true},
		{sysnumAMD64, "newfstatat", 262, true},
		{sysnumAMD64, "pread64", 17, true},
		{sysnumAMD64, "clone3", 435, true},
		{sysnumAMD64, "_llseek", 0, false},
		{sysnumAMD64, "mmap2", 0, false},
		{sysnum386, "_llseek", 140, true},
		{sysnum386, "mkdir", 39, true},
		{sysnumARM64, "mkdir", 0, false},
		{sysnumARM64, "mkdirat", 34, true},
		{sysnumARM, "arm_fadvise64_64", 270, true},
	}
	for _, c := range cases {
		nr, ok := c.fn(c.name)
		if nr != c.nr || ok != c.ok {
			t.Errorf("%s: got %d %v, want %d %v", c.name, nr, ok, c.nr, c.ok)
		}
	}
}

// Every name in the shared list is found again by the binary search, in
// every ABI's column, with the number stored there; names are sorted and
// distinct, which the search relies on.
func TestSyscallTableLookupFindsEveryName(t *testing.T) {
	cols := []struct {
		table  *[numSyscallNames]uint16
		sysnum func(string) (uint32, bool)
	}{
		{&sysnumAMD64Table, sysnumAMD64}, {&sysnum386Table, sysnum386},
		{&sysnumARM64Table, sysnumARM64}, {&sysnumARMTable, sysnumARM},
	}
	prev, start := "", 0
	for i := 0; i < numSyscallNames; i++ {
		name := syscallNames[start:syscallNameEnds[i]]
		start = int(syscallNameEnds[i])
		if name <= prev {
			t.Fatalf("name %d %q does not sort after %q", i, name, prev)
		}
		prev = name
		for _, c := range cols {
			nr, ok := c.sysnum(name)
			if want := c.table[i]; ok != (want != noSyscall) || (ok && nr != uint32(want)) {
				t.Errorf("%s: got %d %v, want %d", name, nr, ok, want)
			}
		}
	}
	if start != len(syscallNames) {
		t.Errorf("the names end at %d of %d bytes", start, len(syscallNames))
	}
	for _, name := range []string{"", "a", "zzz", "read\x00", "_", "mkdi", "mkdirr"} {
		if nr, ok := sysnumAMD64(name); ok {
			t.Errorf("%q: found as %d", name, nr)
		}
	}
}
