package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"pcr/internal/units"
	"pcr/runtime"
)

// ParseSize reads a byte size as Docker does (see units.ParseSize).
func ParseSize(s string) (int64, error) { return units.ParseSize(s) }

// ParseCPUs reads --cpus (a positive decimal, "1.5") into nano-CPUs.
func ParseCPUs(s string) (int64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("invalid --cpus %q: want a decimal number of CPUs, such as 1.5", s)
	}
	if v <= 0 {
		return 0, fmt.Errorf("invalid --cpus %q: must be greater than 0", s)
	}
	nano := int64(v * 1e9)
	if nano < 1e7 {
		return 0, fmt.Errorf("invalid --cpus %q: the smallest allowed is 0.01", s)
	}
	return nano, nil
}

// minMemory is Docker's floor for -m: below it the runtime itself does
// not fit.
const minMemory = 6 << 20

// Validate checks the options that do not need the image; run and create
// call it before anything is made.
func (o *Options) Validate() error {
	if o.StopSignal != "" {
		if _, err := runtime.ParseSignal(o.StopSignal); err != nil {
			return fmt.Errorf("invalid --stop-signal: %w", err)
		}
	}
	if u, _, _ := strings.Cut(o.User, ":"); o.User != "" && u == "" {
		return fmt.Errorf("invalid --user %q: empty user name", o.User)
	}
	if o.Name != "" {
		if err := ValidateName(o.Name); err != nil {
			return err
		}
	}
	if o.Memory < 0 {
		return fmt.Errorf("invalid --memory %d: must be positive", o.Memory)
	}
	if o.Memory > 0 && o.Memory < minMemory {
		return fmt.Errorf("invalid --memory %d: the minimum allowed is 6MB", o.Memory)
	}
	if o.MemorySwap > 0 {
		if o.Memory == 0 {
			return fmt.Errorf("--memory-swap needs --memory as well")
		}
		if o.MemorySwap < o.Memory {
			return fmt.Errorf("invalid --memory-swap %d: must be at least --memory (%d), or -1 for unlimited", o.MemorySwap, o.Memory)
		}
	}
	if o.NanoCPUs < 0 {
		return fmt.Errorf("invalid --cpus: must be greater than 0")
	}
	if o.CpusetCPUs != "" {
		if err := validateCPUList(o.CpusetCPUs); err != nil {
			return err
		}
	}
	if err := o.validateNetwork(); err != nil {
		return err
	}
	for _, v := range o.Volumes {
		if _, err := parseVolume(v); err != nil {
			return err
		}
	}
	for _, t := range o.Tmpfs {
		if _, err := parseTmpfs(t); err != nil {
			return err
		}
	}
	for _, c := range append(append([]string{}, o.CapAdd...), o.CapDrop...) {
		if _, err := normalizeCap(c); err != nil {
			return err
		}
	}
	for _, so := range o.SecurityOpt {
		if _, err := parseSecurityOpt(so); err != nil {
			return err
		}
	}
	for _, e := range o.Env {
		if strings.HasPrefix(e, "=") || e == "" {
			return fmt.Errorf("invalid environment variable %q: empty name", e)
		}
	}
	if o.WorkingDir != "" && !strings.HasPrefix(o.WorkingDir, "/") {
		return fmt.Errorf("invalid working directory %q: must be absolute", o.WorkingDir)
	}
	if err := o.validateUserNS(); err != nil {
		return err
	}
	if err := validateStorageSize(o.StorageSize); err != nil {
		return err
	}
	return nil
}

func validateCPUList(s string) error {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid --cpuset-cpus %q: want a list like 0-2,4", s)
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil || b < a {
				return fmt.Errorf("invalid --cpuset-cpus %q: want a list like 0-2,4", s)
			}
		}
	}
	return nil
}
