package rspec

import (
	"fmt"
	"regexp"
	"strings"
)

// slicePattern is PlanetLab's naming: the site's login base, an
// underscore, the slice's own name; lowercase so that it is also a
// valid container name and (with _ as -) a hostname.
var slicePattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,19}_[a-z0-9][a-z0-9_]{0,31}$`)

// ValidateSlice says why name is not a slice name, or nil.
func ValidateSlice(name string) error {
	if slicePattern.MatchString(name) {
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
