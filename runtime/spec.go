package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pcr/internal/fmtlite"
)

// LoadSpec reads and checks <bundle>/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	spec, _, err := loadSpec(bundle)
	return spec, err
}

// loadSpec is LoadSpec that also returns the file's bytes, which create
// records as they are.
func loadSpec(bundle string) (*specs.Spec, []byte, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(bundle); serr != nil {
			return nil, nil, fmtlite.Errorf("bundle %s: %w", bundle, serr)
		}
		return nil, nil, fmtlite.Errorf("bundle %s has no config.json", bundle)
	}
	if err != nil {
		return nil, nil, fmtlite.Errorf("read %s: %w", path, err)
	}
	spec, err := decodeSpec(data)
	if err != nil {
		return nil, nil, fmtlite.Errorf("parse %s: %w", path, err)
	}
	if err := ValidateSpec(spec); err != nil {
		return nil, nil, fmtlite.Errorf("%s: %w", path, err)
	}
	return spec, data, nil
}

// ValidateSpec checks what can be checked without touching the system.
func ValidateSpec(s *specs.Spec) error {
	if err := checkVersion(s.Version); err != nil {
		return err
	}
	if s.Root == nil || s.Root.Path == "" {
		return errors.New("root.path is required")
	}
	if s.Process == nil {
		return errors.New("process is required")
	}
	if len(s.Process.Args) == 0 {
		return errors.New("process.args must not be empty")
	}
	if s.Process.Cwd == "" || !filepath.IsAbs(s.Process.Cwd) {
		return fmtlite.Errorf("process.cwd %q must be an absolute path", s.Process.Cwd)
	}
	if s.Linux == nil {
		return errors.New("linux section is required on Linux")
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if _, ok := namespaceFlags[ns.Type]; !ok {
			return fmtlite.Errorf("unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fmtlite.Errorf("namespace %s given twice", ns.Type)
		}
		seen[ns.Type] = true
	}
	hasUserNS := seen[specs.UserNamespace]
	if !hasUserNS && (len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0) {
		return errors.New("uidMappings/gidMappings need a user namespace")
	}
	if hasUserNS && nsPath(s, specs.UserNamespace) == "" && (len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0) {
		return errors.New("a new user namespace needs uidMappings and gidMappings")
	}
	if (s.Hostname != "" || s.Domainname != "") && !seen[specs.UTSNamespace] {
		return errors.New("hostname/domainname need a new uts namespace")
	}
	for k := range s.Linux.Sysctl {
		if strings.HasPrefix(k, "net.") && !seen[specs.NetworkNamespace] {
			return fmtlite.Errorf("sysctl %s needs a network namespace", k)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmtlite.Errorf("mount destination %q is not absolute", m.Destination)
		}
	}
	return nil
}

func checkVersion(v string) error {
	if v == "" {
		return errors.New("ociVersion is missing")
	}
	parts := strings.SplitN(strings.SplitN(v, "-", 2)[0], ".", 3)
	if len(parts) != 3 {
		return fmtlite.Errorf("ociVersion %q is not a version", v)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return fmtlite.Errorf("ociVersion %q is not a version", v)
	}
	if major != 1 || minor > specs.VersionMinor {
		return fmtlite.Errorf("unsupported ociVersion %q: pcr supports 1.0.0 to %s", v, specs.Version)
	}
	return nil
}

func nsPath(s *specs.Spec, t specs.LinuxNamespaceType) string {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}

func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}
