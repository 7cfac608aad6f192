package engine

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ulimitTypes are the names Docker's --ulimit takes, with the rlimit each
// sets.
var ulimitTypes = map[string]string{
	"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
	"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
	"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
	"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}

// rlimInfinity is RLIM_INFINITY: Docker's -1, or "unlimited".
const rlimInfinity = math.MaxUint64

// ParseUlimit reads Docker's --ulimit NAME=SOFT[:HARD] (HARD defaults to
// SOFT; -1 or "unlimited" is no limit) into a spec rlimit.
func ParseUlimit(s string) (specs.POSIXRlimit, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: want NAME=SOFT[:HARD]", s)
	}
	typ, ok := ulimitTypes[name]
	if !ok {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: unknown name %q (want one of %s)", s, name, strings.Join(ulimitNames(), " "))
	}
	softS, hardS, hasHard := strings.Cut(vals, ":")
	if strings.Contains(hardS, ":") {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: want NAME=SOFT[:HARD], at most two values", s)
	}
	soft, err := ulimitValue(softS)
	if err != nil {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: soft limit: %w", s, err)
	}
	hard := soft
	if hasHard {
		if hard, err = ulimitValue(hardS); err != nil {
			return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: hard limit: %w", s, err)
		}
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: the soft limit must not exceed the hard limit", s)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

func ulimitValue(v string) (uint64, error) {
	if v == "unlimited" || v == "-1" {
		return rlimInfinity, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number (or -1/unlimited)", v)
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative (only -1, unlimited, is allowed)", n)
	}
	return uint64(n), nil
}

func ulimitNames() []string {
	var out []string
	for n := range ulimitTypes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// parseUlimits reads every --ulimit; a name given twice keeps the last.
func parseUlimits(ulimits []string) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	for _, u := range ulimits {
		rl, err := ParseUlimit(u)
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(out, func(r specs.POSIXRlimit) bool { return r.Type == rl.Type })
		out = append(out, rl)
	}
	return out, nil
}

// withUlimits sets process.rlimits from --ulimit, in place of any default
// of the same name; the rest stay inherited from pcr (withDockerDefaults).
// Raising a hard limit above pcr's own needs CAP_SYS_RESOURCE, which not
// every host grants; the runtime says so at start.
func withUlimits(s *specs.Spec, in *specInput, o *Options) error {
	rls, err := parseUlimits(o.Ulimits)
	if err != nil {
		return err
	}
	for _, rl := range rls {
		s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == rl.Type })
		s.Process.Rlimits = append(s.Process.Rlimits, rl)
	}
	return nil
}
