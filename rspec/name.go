package rspec

import (
	"fmt"
	"strings"
)

// isSliceName is PlanetLab's naming, ^[a-z][a-z0-9]{1,19}_[a-z0-9][a-z0-9_]{0,31}$:
// the site's login base, an underscore, the slice's own name; lowercase so
// that it is also a valid container name and (with _ as -) a hostname.
// A loop, not a package-level regexp: its bounded repeats unrolled to some
// 600 allocations at the start of every pcr process.
func isSliceName(name string) bool {
	site, slice, ok := strings.Cut(name, "_")
	if !ok || len(site) < 2 || len(site) > 20 || len(slice) < 1 || len(slice) > 32 {
		return false
	}
	lower := func(c byte) bool { return 'a' <= c && c <= 'z' }
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	if !lower(site[0]) {
		return false
	}
	for i := 1; i < len(site); i++ {
		if !lower(site[i]) && !digit(site[i]) {
			return false
		}
	}
	for i := 0; i < len(slice); i++ {
		c := slice[i]
		if !lower(c) && !digit(c) && (i == 0 || c != '_') {
			return false
		}
	}
	return true
}

// ValidateSlice says why name is not a slice name, or nil.
func ValidateSlice(name string) error {
	if isSliceName(name) {
		return nil
	}
	if !strings.Contains(name, "_") {
		return fmt.Errorf("invalid slice name %q: want SITE_NAME, e.g. princeton_codeen", name)
	}
	return fmt.Errorf("invalid slice name %q: want SITE_NAME in lowercase letters, digits and _ (site 2-20 characters starting with a letter, name up to 32)", name)
}

// SiteOf is the slice's site, the part before the first underscore.
func SiteOf(slice string) string {
	site, _, _ := strings.Cut(slice, "_")
	return site
}
