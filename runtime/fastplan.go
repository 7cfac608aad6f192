package runtime

// The C init's plan. Most containers need nothing the C init in
// internal/nsenter/fastinit.c cannot do, and a child that never starts the Go
// runtime is ready in a fraction of the time; the plan is the spec turned
// into the exact steps init.go would take, in its order. What the C init does
// not do (a terminal, hooks, a user namespace, --no-pivot, seccomp notify)
// keeps the Go init, and so does every failure: the C init then says
// "fallback" and the parent starts the Go init afresh (create.go).

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"pcr/internal/fmtlite"
	"pcr/runtime/internal/caps"
	"pcr/runtime/internal/seccomp"
)

// fastInitEnv asks the constructor for the C init (it then reads a plan
// where the Go init reads its config).
const fastInitEnv = "_PCR_FASTINIT"

// planMax is the C init's buffer for one plan.
const planMax = 1 << 20

// fastInitRefusal says why spec needs the Go init, "" when the C init can
// take it. It looks only at what is known before the child is started.
func fastInitRefusal(spec *specs.Spec, o CreateOpts) string {
	switch {
	case os.Getenv("PCR_GO_INIT") == "1":
		return "PCR_GO_INIT=1"
	case spec.Process.Terminal:
		return "a terminal"
	case o.NoPivot:
		return "--no-pivot"
	case !hasNS(spec, specs.MountNamespace):
		return "no mount namespace"
	case nsPath(spec, specs.MountNamespace) != "":
		// a fallback would find the joined namespace already changed
		return "a joined mount namespace"
	case hasNS(spec, specs.UserNamespace):
		return "a user namespace"
	case spec.Hooks != nil && (len(spec.Hooks.Prestart) > 0 || len(spec.Hooks.CreateRuntime) > 0 ||
		len(spec.Hooks.CreateContainer) > 0 || len(spec.Hooks.StartContainer) > 0):
		return "hooks run inside the container"
	case spec.Linux.Seccomp != nil && (spec.Linux.Seccomp.ListenerPath != "" || hasListenerFlag(spec.Linux.Seccomp)):
		return "a seccomp notify listener"
	}
	return ""
}

func hasListenerFlag(sc *specs.LinuxSeccomp) bool {
	for _, f := range sc.Flags {
		if f == "SECCOMP_FILTER_FLAG_NEW_LISTENER" {
			return true
		}
	}
	return false
}

// plan is the token stream fastinit.c reads: every token NUL-terminated.
type plan struct {
	b   []byte
	err error
}

var errPlanNUL = errors.New("a string of the spec holds a NUL byte")

func (p *plan) op(code byte, args ...string) {
	p.b = append(p.b, code, 0)
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			p.err = errPlanNUL
		}
		p.b = append(p.b, a...)
		p.b = append(p.b, 0)
	}
}

func num[T ~int | ~int64 | ~uint32 | ~uint64 | ~uintptr](v T) string {
	return strconv.FormatInt(int64(v), 10)
}

// refusalPlan makes the C init fall back at once with why.
func refusalPlan(cfg *initConfig, why error) []byte {
	p := &plan{b: []byte("PLAN\x000\x000\x00")}
	p.op('G', strings.ReplaceAll(why.Error(), "\x00", " "))
	return p.b
}

// buildFastPlan turns cfg into the C init's plan, or says why it cannot.
func buildFastPlan(cfg *initConfig) ([]byte, error) {
	spec := cfg.Spec
	p := &plan{b: []byte("PLAN\x00")}
	p.b = append(p.b, cfg.Rootfs...)
	p.b = append(p.b, 0)
	p.b = append(p.b, strconv.FormatInt(cfg.TraceStart, 10)...)
	p.b = append(p.b, 0)
	if strings.IndexByte(cfg.Rootfs, 0) >= 0 {
		return nil, errPlanNUL
	}

	if cfg.NewCgroup {
		p.op('n')
	}
	if err := planRootfs(p, cfg); err != nil {
		return nil, err
	}
	for k, v := range spec.Linux.Sysctl {
		if strings.Contains(k, "/") || strings.Contains(k, "..") {
			return nil, fmtlite.Errorf("sysctl %q: invalid name", k)
		}
		p.op('S', filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/")), v)
	}
	for _, path := range spec.Linux.MaskedPaths {
		p.op('M', path)
	}
	for _, path := range spec.Linux.ReadonlyPaths {
		p.op('O', path)
	}
	if spec.Root.Readonly {
		p.op('Y')
	}
	if hasNS(spec, specs.UTSNamespace) {
		if spec.Hostname != "" {
			p.op('H', spec.Hostname)
		}
		if spec.Domainname != "" {
			p.op('N', spec.Domainname)
		}
	}
	if hasNS(spec, specs.NetworkNamespace) && nsPath(spec, specs.NetworkNamespace) == "" {
		p.op('U')
	}
	if err := planFinal(p, cfg); err != nil {
		return nil, err
	}
	if p.err != nil {
		return nil, p.err
	}
	if len(p.b) > planMax {
		return nil, fmtlite.Errorf("plan of %d bytes is over the C init's %d", len(p.b), planMax)
	}
	return p.b, nil
}

// planRootfs is prepareRootfs of rootfs.go, step for step.
func planRootfs(p *plan, cfg *initConfig) error {
	spec := cfg.Spec
	prop, setupProp, err := rootfsPropagation(spec)
	if err != nil {
		return err
	}
	p.op('p', num(setupProp))
	p.op('v')
	devBound := false
	for _, m := range spec.Mounts {
		if err := planMount(p, cfg, m); err != nil {
			return err
		}
		if m.Destination == "/dev" && isBind(m) {
			devBound = true
		}
	}
	if !devBound {
		devs := append([]device{}, defaultDevices...)
		for _, d := range spec.Linux.Devices {
			dev, err := specDevice(d)
			if err != nil {
				return err
			}
			devs = append(devs, dev)
		}
		for _, d := range devs {
			p.op('D', inRoot(d.path), num(d.kind), num(d.major), num(d.minor), num(uint32(d.mode)), num(d.uid), num(d.gid))
		}
		for _, l := range [][2]string{
			{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
			{"/proc/self/fd/2", "/dev/stderr"}, {"pts/ptmx", "/dev/ptmx"}, {"/proc/kcore", "/dev/core"},
		} {
			p.op('L', l[0], l[1])
		}
	}
	p.op('V')
	if prop&unix.MS_SHARED != 0 {
		p.op('X', num(prop))
	}
	return nil
}

// inRoot is a path as resolveInRoot starts from it: cleaned as an absolute
// path before any symlink is followed ("/run/../data" is /data even where
// /run is a link).
func inRoot(path string) string { return filepath.Clean("/" + path) }

// planMount is mountEntry of mounts.go.
func planMount(p *plan, cfg *initConfig, m specs.Mount) error {
	o := parseMountOptions(m.Options)
	dest := inRoot(m.Destination)
	switch {
	case isBind(m):
		src := m.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(cfg.Bundle, src)
		}
		bindFlags := o.flags & (unix.MS_BIND | unix.MS_REC)
		if bindFlags == 0 {
			bindFlags = unix.MS_BIND
		}
		p.op('m', src, dest, "", num(bindFlags), "", "s")
		if rest := o.flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			p.op('r', dest, num(rest))
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		planCgroupMount(p, cfg, dest, o)
	default:
		p.op('m', m.Source, dest, m.Type, num(o.flags), strings.Join(o.data, ","), "d")
	}
	for _, pf := range o.propagation {
		p.op('P', dest, num(pf))
	}
	return nil
}

// planCgroupMount is mountCgroup of mounts.go without its user namespace
// fallbacks (a user namespace keeps the Go init).
func planCgroupMount(p *plan, cfg *initConfig, dest string, o mountOpts) {
	flags := o.flags | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if cfg.CgroupV2 {
		p.op('m', "cgroup2", dest, "cgroup2", num(flags), "", "d")
		return
	}
	p.op('m', "tmpfs", dest, "tmpfs", num(uintptr(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)), "mode=755", "d")
	names := make([]string, 0, len(cfg.CgroupDirs))
	for name := range cfg.CgroupDirs {
		if name != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		sub := filepath.Join(dest, strings.TrimPrefix(name, "name="))
		if cfg.NewCgroup {
			p.op('m', "cgroup", sub, "cgroup", num(flags&^unix.MS_RDONLY), name, "d")
		} else {
			p.op('m', cfg.CgroupDirs[name], sub, "", num(uintptr(unix.MS_BIND|unix.MS_REC)), "", "d")
		}
		if flags&unix.MS_RDONLY != 0 {
			p.op('R', sub)
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		p.op('R', dest)
	}
}

// planFinal is prepareFinal, dropPrivileges and exec of finalize.go.
func planFinal(p *plan, cfg *initConfig) error {
	proc := cfg.Spec.Process
	args := []string{num(proc.User.UID), proc.Cwd, num(len(proc.Args))}
	args = append(args, proc.Args...)
	args = append(args, num(len(proc.Env)))
	args = append(args, proc.Env...)
	p.op('l', args...)

	var prog []unix.SockFilter
	var bits uint
	if sc := cfg.Spec.Linux.Seccomp; sc != nil {
		var err error
		if prog, err = seccomp.Compile(sc); err != nil {
			return fmtlite.Errorf("seccomp: %w", err)
		}
		if bits, err = seccomp.FlagBits(sc.Flags); err != nil {
			return fmtlite.Errorf("seccomp: %w", err)
		}
		if len(prog) == 0 || len(prog) > 4096 {
			return fmtlite.Errorf("seccomp: program of %d instructions", len(prog))
		}
	}
	p.op('F', num(cfg.PreserveFDs))
	if proc.OOMScoreAdj != nil {
		p.op('A', strconv.Itoa(*proc.OOMScoreAdj))
	}
	for _, rl := range proc.Rlimits {
		res, ok := rlimitNames[rl.Type]
		if !ok || rl.Soft > rl.Hard {
			return fmtlite.Errorf("rlimit %s soft=%d hard=%d", rl.Type, rl.Soft, rl.Hard)
		}
		p.op('T', num(res), strconv.FormatUint(rl.Soft, 10), strconv.FormatUint(rl.Hard, 10))
	}
	if proc.NoNewPrivileges {
		p.op('W')
	} else if prog != nil {
		p.op('Z', strconv.FormatUint(uint64(bits), 16), filterHex(prog))
	}
	if proc.Capabilities != nil {
		masks, err := capMasks(proc.Capabilities)
		if err != nil {
			return err
		}
		p.op('C', masks[:]...)
	}
	user := []string{num(proc.User.UID), num(proc.User.GID), num(len(proc.User.AdditionalGids))}
	for _, g := range proc.User.AdditionalGids {
		user = append(user, num(g))
	}
	p.op('u', user...)
	p.op('c', proc.Cwd)
	if proc.User.Umask != nil {
		p.op('k', num(*proc.User.Umask))
	}
	if proc.NoNewPrivileges && prog != nil {
		p.op('z', strconv.FormatUint(uint64(bits), 16), filterHex(prog))
	}
	p.op('x')
	return nil
}

// filterHex is the program as the kernel takes it, in hex.
func filterHex(prog []unix.SockFilter) string {
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = append(b, byte(in.Code), byte(in.Code>>8), in.Jt, in.Jf,
			byte(in.K), byte(in.K>>8), byte(in.K>>16), byte(in.K>>24))
	}
	return lowerHex(b)
}

// lowerHex is hex.EncodeToString (two lower-case digits a byte), written
// out because encoding/hex links fmt into pcr-oci.
func lowerHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, v := range b {
		out[2*i] = digits[v>>4]
		out[2*i+1] = digits[v&0x0f]
	}
	return string(out)
}

// capMasks is parseCaps as bit masks: bounding, effective, permitted,
// inheritable, ambient. A capability this kernel does not know keeps the Go
// init, which warns about it on the container's stderr.
func capMasks(c *specs.LinuxCapabilities) ([5]string, error) {
	var out [5]string
	last, err := caps.LastCap()
	if err != nil {
		return out, err
	}
	refuse := func(n string) error {
		return fmtlite.Errorf("capability %s is unknown to this kernel", n)
	}
	for i, names := range [][]string{c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient} {
		m, err := caps.Mask(names, last, refuse)
		if err != nil {
			return out, err
		}
		out[i] = strconv.FormatUint(m, 16)
	}
	return out, nil
}
