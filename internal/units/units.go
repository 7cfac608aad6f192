// Package units reads the sizes people write, as Docker does.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize reads a byte size as Docker does: a number with an optional
// binary unit b, k, m, g, t (and kb, mb, … ), case-insensitive.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSuffix(t[i:], "b")
	if num == "" {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit (b, k, m, g, t)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
	m, ok := mult[unit]
	if !ok || (unit == "" && strings.HasSuffix(t, "bb")) {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want b, k, m, g, t)", s, t[i:])
	}
	b := v * m
	if b > math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(b), nil
}
