package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/engine/internal/inroot"
	"pcr/engine/internal/monitor"
	"pcr/runtime"
)

// specInput is what the spec is built from besides the flags.
type specInput struct {
	id     string
	dir    string
	image  ocispec.ImageConfig
	lowers []string // the image's layer dirs, top first
}

// SpecOpt changes the spec for one family of flags, in containerd's
// oci.SpecOpts style; buildSpec applies them in order.
type SpecOpt func(s *specs.Spec, in *specInput, o *Options) error

var specOpts = []SpecOpt{
	withDockerDefaults,
	withNetwork,
	withProcess,
	withHostFiles,
	withVolumes,
	withTmpfs,
	withReadOnly,
	withCapabilities,
	withSecurityOpts,
	withResources,
	withUlimits,
	withNetRate,
	withInit,
	withUserNS,
}

// buildSpec is runtime.DefaultSpec with the image config and the flags
// applied: a config.json runc would run as well.
func buildSpec(in *specInput, o *Options) (*specs.Spec, error) {
	s := runtime.DefaultSpec(false)
	for _, opt := range specOpts {
		if err := opt(s, in, o); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func withDockerDefaults(s *specs.Spec, in *specInput, o *Options) error {
	s.Root = &specs.Root{Path: "rootfs"}
	s.Hostname = o.Hostname
	if s.Hostname == "" {
		s.Hostname = ShortID(in.id)
	}
	// Inherit pcr's limits as Docker inherits dockerd's: raising a hard
	// limit needs CAP_SYS_RESOURCE, which not every host grants.
	s.Process.Rlimits = nil
	s.Process.NoNewPrivileges = false
	s.Process.Terminal = o.Tty
	s.Linux.MaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	s.Linux.ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	if o.CgroupParent != "" {
		s.Linux.CgroupsPath = filepath.Join(o.CgroupParent, in.id)
	}
	return nil
}

// withProcess sets the command, environment and working directory the
// way Docker merges the image config with the flags.
func withProcess(s *specs.Spec, in *specInput, o *Options) error {
	entrypoint, cmd := in.image.Entrypoint, in.image.Cmd
	if o.EntrypointSet {
		entrypoint, cmd = o.Entrypoint, nil
	}
	if len(o.Cmd) > 0 {
		cmd = o.Cmd
	}
	args := append(slices.Clone(entrypoint), cmd...)
	if len(args) == 0 && !o.IdleInit { // IdleInit runs no command (withInit)
		return fmt.Errorf("no command specified: the image has no CMD or ENTRYPOINT, give one after the image name")
	}
	s.Process.Args = args
	env := []string{}
	env = mergeEnv(env, in.image.Env)
	if !hasKey(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	env = mergeEnv(env, []string{"HOSTNAME=" + s.Hostname})
	if o.Tty {
		env = mergeEnv(env, []string{"TERM=xterm"})
	}
	env = mergeEnv(env, o.Env)
	s.Process.Env = env
	s.Process.Cwd = "/"
	if in.image.WorkingDir != "" {
		s.Process.Cwd = in.image.WorkingDir
	}
	if o.WorkingDir != "" {
		s.Process.Cwd = o.WorkingDir
	}
	return nil
}

// mergeEnv sets each KEY=V of add in env, replacing an earlier KEY.
func mergeEnv(env, add []string) []string {
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") || e == k })
		env = append(env, kv)
	}
	return env
}

func hasKey(env []string, key string) bool {
	return slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, key+"=") })
}

// withHostFiles bind-mounts the container's own hostname, hosts and
// resolv.conf, kept in its directory so they outlive a restart.
func withHostFiles(s *specs.Spec, in *specInput, o *Options) error {
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(in.dir, f),
			Options: []string{"rbind", "rprivate"},
		})
	}
	return nil
}

type volume struct {
	host, ctr string
	ro        bool
}

func parseVolume(v string) (volume, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return volume{}, fmt.Errorf("invalid volume %q: want HOST:CONTAINER[:ro]", v)
	}
	vol := volume{host: parts[0], ctr: parts[1]}
	if !filepath.IsAbs(vol.host) {
		return volume{}, fmt.Errorf("invalid volume %q: the host path must be absolute (named volumes are not supported)", v)
	}
	if !filepath.IsAbs(vol.ctr) || filepath.Clean(vol.ctr) == "/" {
		return volume{}, fmt.Errorf("invalid volume %q: the container path must be absolute and not /", v)
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			vol.ro = true
		case "rw":
		default:
			return volume{}, fmt.Errorf("invalid volume %q: mode %q, want ro or rw", v, parts[2])
		}
	}
	return vol, nil
}

func withVolumes(s *specs.Spec, in *specInput, o *Options) error {
	for _, v := range o.Volumes {
		vol, err := parseVolume(v)
		if err != nil {
			return err
		}
		if _, err := os.Stat(vol.host); err != nil {
			return fmt.Errorf("volume %s: host path: %w", v, err)
		}
		opts := []string{"rbind", "rprivate"}
		if vol.ro {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: filepath.Clean(vol.ctr), Type: "bind", Source: filepath.Clean(vol.host), Options: opts})
	}
	return nil
}

type tmpfsMount struct {
	dest string
	opts []string
}

func parseTmpfs(t string) (tmpfsMount, error) {
	dest, opts, _ := strings.Cut(t, ":")
	if !filepath.IsAbs(dest) || filepath.Clean(dest) == "/" {
		return tmpfsMount{}, fmt.Errorf("invalid --tmpfs %q: the path must be absolute and not /", t)
	}
	m := tmpfsMount{dest: filepath.Clean(dest), opts: []string{"nosuid", "nodev", "noexec"}}
	if opts != "" {
		m.opts = append(m.opts, strings.Split(opts, ",")...)
	}
	return m, nil
}

func withTmpfs(s *specs.Spec, in *specInput, o *Options) error {
	for _, t := range o.Tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			return err
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: m.dest, Type: "tmpfs", Source: "tmpfs", Options: m.opts})
	}
	return nil
}

func withReadOnly(s *specs.Spec, in *specInput, o *Options) error {
	s.Root.Readonly = o.ReadOnly
	return nil
}

func normalizeCap(c string) (string, error) {
	name := strings.ToUpper(c)
	if name == "ALL" {
		return name, nil
	}
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	for _, k := range capability.ListKnown() {
		if "CAP_"+strings.ToUpper(k.String()) == name {
			return name, nil
		}
	}
	return "", fmt.Errorf("unknown capability %q", c)
}

func allCaps() []string {
	var out []string
	for _, k := range capability.ListKnown() {
		out = append(out, "CAP_"+strings.ToUpper(k.String()))
	}
	return out
}

// withCapabilities is Docker's set, then --cap-add, then --cap-drop
// ("ALL" in either works as Docker's does).
func withCapabilities(s *specs.Spec, in *specInput, o *Options) error {
	caps := inroot.DockerCapabilities()
	add, drop := map[string]bool{}, map[string]bool{}
	for _, c := range o.CapAdd {
		n, err := normalizeCap(c)
		if err != nil {
			return err
		}
		add[n] = true
	}
	for _, c := range o.CapDrop {
		n, err := normalizeCap(c)
		if err != nil {
			return err
		}
		drop[n] = true
	}
	if add["ALL"] {
		caps = allCaps()
	}
	if drop["ALL"] {
		caps = nil
	}
	for c := range add {
		if c != "ALL" && !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	caps = slices.DeleteFunc(caps, func(c string) bool { return drop[c] && !add[c] })
	slices.Sort(caps)
	s.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: caps, Effective: slices.Clone(caps), Permitted: slices.Clone(caps),
	}
	return nil
}

type securityOpt struct {
	noNewPrivs bool
	unconfined bool
}

func parseSecurityOpt(so string) (securityOpt, error) {
	switch so {
	case "no-new-privileges", "no-new-privileges:true", "no-new-privileges=true":
		return securityOpt{noNewPrivs: true}, nil
	case "no-new-privileges:false", "no-new-privileges=false":
		return securityOpt{}, nil
	case "seccomp=unconfined", "seccomp:unconfined":
		return securityOpt{unconfined: true}, nil
	}
	return securityOpt{}, fmt.Errorf("unsupported --security-opt %q: pcr knows no-new-privileges and seccomp=unconfined", so)
}

// withSecurityOpts runs after withCapabilities: the seccomp profile
// allows what the capabilities make meaningful.
func withSecurityOpts(s *specs.Spec, in *specInput, o *Options) error {
	unconfined := false
	for _, so := range o.SecurityOpt {
		p, err := parseSecurityOpt(so)
		if err != nil {
			return err
		}
		if p.noNewPrivs {
			s.Process.NoNewPrivileges = true
		}
		if p.unconfined {
			unconfined = true
		}
	}
	if !unconfined {
		s.Linux.Seccomp = defaultSeccomp(s.Process.Capabilities.Bounding)
	}
	return nil
}

func withResources(s *specs.Spec, in *specInput, o *Options) error {
	r := s.Linux.Resources
	if o.Memory > 0 || o.MemorySwap != 0 {
		r.Memory = &specs.LinuxMemory{}
		if o.Memory > 0 {
			r.Memory.Limit = &o.Memory
			// Docker's default: swap as large again as memory.
			swap := 2 * o.Memory
			if o.MemorySwap != 0 {
				swap = o.MemorySwap
			}
			if hasSwapAccounting() {
				r.Memory.Swap = &swap
			}
		}
	}
	if o.NanoCPUs > 0 || o.CPUShares > 0 || o.CpusetCPUs != "" {
		r.CPU = &specs.LinuxCPU{Cpus: o.CpusetCPUs}
		if o.CPUShares > 0 {
			shares := o.CPUShares
			r.CPU.Shares = &shares
		}
		if o.NanoCPUs > 0 {
			period := uint64(100000)
			quota := o.NanoCPUs * int64(period) / 1e9
			r.CPU.Period, r.CPU.Quota = &period, &quota
		}
	}
	if o.PidsLimit > 0 {
		limit := o.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return nil
}

// hasSwapAccounting says whether memory.memsw (v1) or memory.swap (v2)
// can be written; without it a swap limit is an error, so leave it out.
func hasSwapAccounting() bool {
	for _, p := range []string{"/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "/sys/fs/cgroup/memory.swap.max"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/memory.swap.max"); len(m) > 0 {
		return true
	}
	return false
}

// withNetwork: "none" (the default until bridge networking exists) is a
// new network namespace with only lo; "host" shares the host's.
func withNetwork(s *specs.Spec, in *specInput, o *Options) error {
	if o.Network == "host" {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
			return n.Type == specs.NetworkNamespace || n.Type == specs.UTSNamespace
		})
		s.Hostname = ""
	}
	return nil
}

// withInit runs pcr's own minimal init as PID 1 (reaps zombies, forwards
// signals), bind-mounted from the pcr binary.
func withInit(s *specs.Spec, in *specInput, o *Options) error {
	if !o.Init && !o.IdleInit {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--init: find the pcr binary: %w", err)
	}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: monitor.InitPath, Type: "bind", Source: self, Options: []string{"bind", "ro", "rprivate"}})
	s.Process.Args = append([]string{monitor.InitPath, "--"}, s.Process.Args...)
	if o.IdleInit { // the image's command and --init give way: nothing runs but the init
		s.Process.Args = []string{monitor.InitPath, monitor.IdleArg}
	}
	s.Process.Env = append(s.Process.Env, monitor.InitEnv+"=1")
	return nil
}
